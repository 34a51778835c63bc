import fc from 'fast-check';
import { ArtifactError } from '@app/common';
import { upstreamUrl } from '@app/upstream';
import {
  guarded,
  keyFault,
  rawRegistryRest,
  urlFault,
} from '../../../../test/helpers/path-properties';
import { registryKeys } from './registry-keys';
import { type RegistryRequest, parseRegistryRequest, splitRegistryPath } from './registry-path';

const RUNS = 3000;
const REMOTE = 'hub';
const BASE_URL = 'http://127.0.0.1:8999/registry';

/** The storage keys and the upstream request of a parsed /v2 request (as RegistryService builds them). */
function targetOf(parsed: RegistryRequest): {
  keys: string[];
  upstreamPath: string;
  query: string;
} {
  switch (parsed.kind) {
    case 'blob':
      return {
        keys: [registryKeys.blob(REMOTE, parsed.digest)],
        upstreamPath: `v2/${parsed.image}/blobs/sha256:${parsed.digest}`,
        query: '',
      };
    case 'manifest': {
      const ref = parsed.reference;
      const digestPrefix = registryKeys.manifestDigestPrefix(REMOTE, parsed.image);
      return ref.type === 'digest'
        ? {
            keys: [
              registryKeys.manifestByDigest(REMOTE, parsed.image, ref.hex),
              `${digestPrefix}/x`,
            ],
            upstreamPath: `v2/${parsed.image}/manifests/sha256:${ref.hex}`,
            query: '',
          }
        : {
            keys: [registryKeys.manifestByTag(REMOTE, parsed.image, ref.tag), `${digestPrefix}/x`],
            upstreamPath: `v2/${parsed.image}/manifests/${ref.tag}`,
            query: '',
          };
    }
    case 'tags':
      return {
        keys: [registryKeys.tagList(REMOTE, parsed.image, parsed.query)],
        upstreamPath: `v2/${parsed.image}/tags/list`,
        query: parsed.query,
      };
  }
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
        const url = guarded(() => upstreamUrl(BASE_URL, target.upstreamPath, target.query));
        if (url instanceof ArtifactError) {
          throw new Error(`a parsed request was refused by upstreamUrl: ${url.message}`);
        }
        expect(urlFault(url, BASE_URL, target.upstreamPath)).toBeNull();
        expect(url.search).toBe(target.query === '' ? '' : `?${target.query}`);
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS / 20);
  });
});
