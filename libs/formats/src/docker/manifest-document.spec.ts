import { Readable } from 'node:stream';
import { MANIFEST_MAX_BYTES, mediaTypeOf, readManifest } from './manifest-document';

describe('manifest documents', () => {
  it('takes the media type from the header, else from the document', () => {
    const doc = Buffer.from(
      JSON.stringify({ mediaType: 'application/vnd.oci.image.index.v1+json' }),
    );
    expect(mediaTypeOf(doc, 'application/vnd.docker.distribution.manifest.v2+json')).toBe(
      'application/vnd.docker.distribution.manifest.v2+json',
    );
    expect(mediaTypeOf(doc, 'application/json; charset=utf-8')).toBe(
      'application/vnd.oci.image.index.v1+json',
    );
    expect(mediaTypeOf(Buffer.from('{}'), undefined)).toBe('application/json');
  });

  it('hashes the exact bytes', async () => {
    const manifest = await readManifest(
      Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]),
      'application/json',
    );
    expect(manifest.sha256).toBe(
      '015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862',
    );
  });

  it('refuses oversized documents', async () => {
    const huge = Readable.from([Buffer.alloc(MANIFEST_MAX_BYTES), Buffer.alloc(1)]);
    await expect(readManifest(huge, undefined)).rejects.toThrow(/larger than/);
  });
});
