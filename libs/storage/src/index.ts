export * from './storage-driver';
export * from './storage-key';
export * from './hashing.transform';
export * from './fs-storage.driver';
export * from './s3-storage.driver';
export * from './storage.module';
