import { ArtifactError } from '@app/common';
import type { AppConfig, LocalRemoteConfig, RemoteConfig } from '@app/config';

export function resolveRemote(config: AppConfig, name: string): RemoteConfig {
  const remote = Object.hasOwn(config.remotes, name) ? config.remotes[name] : undefined;
  if (!remote) {
    throw new ArtifactError('unknown_remote', `no remote named ${JSON.stringify(name)}`);
  }
  return remote;
}

export function isLocal(remote: RemoteConfig): remote is LocalRemoteConfig {
  return remote.package === 'local';
}

/** Storage key of a path of a remote: `<remote>/<path>`; docker keys have their own layout. */
export function artifactKey(remote: string, path: string): string {
  return `${remote}/${path}`;
}
