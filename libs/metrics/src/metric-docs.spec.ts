import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FETCH_FAILURE_REASONS } from '@app/jobs';
import { METRICS } from './metric-names';

const ROOT = join(__dirname, '../../..');

/** The rows of docs/METRICS.md's reference table: name, type, labels. */
function documentedMetrics(): Map<string, { type: string; labels: string[] }> {
  const rows = new Map<string, { type: string; labels: string[] }>();
  for (const line of readFileSync(join(ROOT, 'docs/METRICS.md'), 'utf8').split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const name = /^`(artifactcache_\w+)`$/.exec(cells[1] ?? '')?.[1];
    if (name) {
      const labels = [...cells[3].matchAll(/`(\w+)`/g)].map((match) => match[1]);
      rows.set(name, { type: cells[2], labels });
    }
  }
  return rows;
}

/** Files whose artifactcache_ names must be metrics the apps export. */
function filesNamingMetrics(): string[] {
  const files = ['README.md'];
  for (const dir of ['docs', 'deploy/prometheus', 'deploy/grafana']) {
    const walk = (at: string): void => {
      for (const entry of readdirSync(join(ROOT, at), { withFileTypes: true })) {
        const path = join(at, entry.name);
        if (entry.isDirectory()) {
          walk(path);
        } else if (/\.(md|ya?ml|json)$/.test(entry.name)) {
          files.push(path);
        }
      }
    };
    walk(dir);
  }
  return files;
}

describe('docs/METRICS.md', () => {
  const documented = documentedMetrics();

  it('describes every metric the apps define, with its type and labels', () => {
    for (const metric of Object.values(METRICS)) {
      expect({ name: metric.name, ...documented.get(metric.name) }).toEqual({
        name: metric.name,
        type: metric.type,
        labels: [...metric.labels],
      });
    }
  });

  it('names every reason a fetch fails for, and no other', () => {
    const row = readFileSync(join(ROOT, 'docs/METRICS.md'), 'utf8')
      .split('\n')
      .find((line) => line.startsWith(`| \`${METRICS.fetchFailures.name}\``));
    const meaning = row?.split('|')[5] ?? '';
    const labels: readonly string[] = METRICS.fetchFailures.labels;
    const named = [...meaning.matchAll(/`([a-z_]+)`/g)]
      .map((match) => match[1])
      .filter((name) => !labels.includes(name));
    expect([...new Set(named)].sort()).toEqual([...FETCH_FAILURE_REASONS].sort());
  });

  it('describes no metric the apps do not define', () => {
    const defined = new Set<string>(Object.values(METRICS).map((metric) => metric.name));
    expect([...documented.keys()].filter((name) => !defined.has(name))).toEqual([]);
  });

  it('is the only metric list: the docs, alerts and dashboards name defined metrics only', () => {
    const known = new Set(
      Object.values(METRICS).flatMap((metric) =>
        metric.type === 'histogram'
          ? [metric.name, `${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`]
          : [metric.name],
      ),
    );
    const unknown: string[] = [];
    for (const file of filesNamingMetrics()) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const [name] of text.matchAll(/\bartifactcache_[a-z_]+[a-z]\b/g)) {
        if (!known.has(name)) {
          unknown.push(`${file}: ${name}`);
        }
      }
    }
    expect(unknown).toEqual([]);
  });
});
