import { Global, Inject, Module, type OnModuleDestroy } from '@nestjs/common';
import { resolve } from 'node:path';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { FsStorageDriver } from './fs-storage.driver';
import { STORAGE_DRIVER, type StorageDriver } from './storage-driver';

/** Builds the driver named by config; a relative fs path is taken from the working directory. */
export async function createStorageDriver(
  config: AppConfig['storage'],
  cwd: string = process.cwd(),
): Promise<StorageDriver> {
  switch (config.driver) {
    case 'fs':
      return new FsStorageDriver(resolve(cwd, config.path));
    case 's3': {
      // Loaded on demand: the AWS SDK adds about 20 MiB of RSS that an fs node does not need.
      const { S3StorageDriver } = await import('./s3-storage.driver');
      return new S3StorageDriver(config);
    }
  }
}

@Global()
@Module({
  providers: [
    {
      provide: STORAGE_DRIVER,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): Promise<StorageDriver> =>
        createStorageDriver(config.storage),
    },
  ],
  exports: [STORAGE_DRIVER],
})
export class StorageModule implements OnModuleDestroy {
  constructor(@Inject(STORAGE_DRIVER) private readonly driver: StorageDriver) {}

  async onModuleDestroy(): Promise<void> {
    await this.driver.close();
  }
}
