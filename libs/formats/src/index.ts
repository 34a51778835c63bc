export * from './docker-keys';
export * from './docker-request';
export * from './fetch-target';
export * from './manifest-references';
export * from './manifest-document';
