export * from './upstream-auth';
export * from './upstream-error';
export * from './upstream-url';
export * from './upstream.client';
export * from './upstream.module';
export * from './http-request';
export * from './bearer-challenge';
export * from './token-upstream.auth';
