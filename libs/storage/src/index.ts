export * from './storage-driver';
export * from './storage-key';
export * from './hashing.transform';
export * from './fs-storage.driver';
// The s3 driver is imported from its own file so that fs-only processes never load the AWS SDK.
export type { S3StorageConfig } from './s3-storage.driver';
export * from './storage.module';
export * from './file-body';
export * from './reused-buffers';
