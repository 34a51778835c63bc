/** A configuration that cannot be used. The message lists every problem, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? `Invalid configuration: ${problems[0]}`
        : `Invalid configuration (${problems.length} problems):\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/** `remotes.rpm.immutable_patterns[1]` */
export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((out, segment) => {
    if (typeof segment === 'number') {
      return `${out}[${segment}]`;
    }
    return out === '' ? segment : `${out}.${segment}`;
  }, '');
}
