import fc from 'fast-check';
import { ArtifactError } from '@app/common';
import { upstreamUrl } from '@app/upstream';
import {
  guarded,
  keyFault,
  rawRegistryRest,
  urlFault,
} from '../../../../test/helpers/path-properties';
import { type ProxyRemoteConfig, buildAppConfig } from '@app/config';
import {
  type RegistryRequest,
  dockerJobPath,
  fetchTargetOf,
  parseRegistryRequest,
  splitRegistryPath,
} from '@app/formats';
import { cleanPath } from '../http/path-guard';

const RUNS = 3000;
const REMOTE = 'hub';
const BASE_URL = 'http://127.0.0.1:8999/registry';
const remote = buildAppConfig({ remotes: { [REMOTE]: { package: 'docker', base_url: BASE_URL } } })
  .remotes[REMOTE] as ProxyRemoteConfig;

/**
 * The storage keys and the upstream request of a parsed /v2 request: what the gateway and the
 * fetcher both derive (fetchTargetOf), plus the digest key a manifest is also stored under.
 */
function targetOf(parsed: RegistryRequest): { keys: string[]; upstreamPath: string } {
  const target = fetchTargetOf(remote, dockerJobPath(parsed));
  const keys = [target.storageKey];
  if (target.document?.kind === 'manifest') {
    keys.push(`${target.document.manifestDigestKeyPrefix}/sha256/${'0'.repeat(64)}`);
  }
  return { keys, upstreamPath: target.upstreamPath };
}

describe('registry path properties (generated /v2 paths)', () => {
  it('keys stay under <remote>/, the upstream URL under base_url, errors are ArtifactErrors', () => {
    let accepted = 0;
    fc.assert(
      fc.property(rawRegistryRest(REMOTE, { http: false }), (raw) => {
        // RegistryController: the query is cut off the raw URL at the first '?'.
        const queryAt = raw.indexOf('?');
        const rest = queryAt === -1 ? raw : raw.slice(0, queryAt);
        const query = queryAt === -1 ? '' : raw.slice(queryAt + 1);
        const parsed = guarded(() => {
          cleanPath(rest);
          const { segments, operation } = splitRegistryPath(rest);
          // RegistryService.resolve with `hub` also the default remote (the plain mirror form).
          const image = segments[0] === REMOTE ? segments.slice(1) : segments;
          return parseRegistryRequest(image, operation, query);
        });
        if (parsed instanceof ArtifactError) {
          expect(['bad_path', 'bad_request', 'not_found']).toContain(parsed.code);
          return;
        }
        accepted += 1;
        const target = targetOf(parsed);
        for (const key of target.keys) {
          expect(keyFault(key, REMOTE)).toBeNull();
        }
        const url = guarded(() => upstreamUrl(BASE_URL, target.upstreamPath));
        if (url instanceof ArtifactError) {
          throw new Error(`a parsed request was refused by upstreamUrl: ${url.message}`);
        }
        expect(urlFault(url, BASE_URL, target.upstreamPath)).toBeNull();
        expect(url.search).toBe('');
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS / 20);
  });
});
