export * from './app-logger';
export * from './app-version';
export * from './artifact-error';
export * from './bootstrap';
export * from './content-type';
export * from './deadline';
export * from './http-date';
