/**
 * Storage layout of a docker remote. Segments starting with '_' cannot be part of an image name
 * (name components start with [a-z0-9]), so these never collide with an image.
 * Blobs are stored once per remote: a layer pulled for one image is a hit for every image.
 */
export const registryKeys = {
  blob: (remote: string, hex: string) => `${remote}/_blobs/sha256/${hex}`,
  manifestDigestPrefix: (remote: string, image: string) => `${remote}/${image}/_manifests`,
  manifestByDigest: (remote: string, image: string, hex: string) =>
    `${remote}/${image}/_manifests/sha256/${hex}`,
  manifestByTag: (remote: string, image: string, tag: string) => `${remote}/${image}/_tags/${tag}`,
  /** one tag list per image: pages (`n`, `last`) are cut from it, never stored apart */
  tagList: (remote: string, image: string) => `${remote}/${image}/_tag_lists/all`,
};

/** Every manifest type that docker, containerd, podman and skopeo pull (one cached copy per tag). */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
