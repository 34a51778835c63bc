export * from './docker-keys';
export * from './docker-request';
export * from './fetch-target';
