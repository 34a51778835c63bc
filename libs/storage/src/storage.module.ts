import { Global, Inject, Module, type OnModuleDestroy } from '@nestjs/common';
import { resolve } from 'node:path';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { FsStorageDriver } from './fs-storage.driver';
import { S3StorageDriver } from './s3-storage.driver';
import { STORAGE_DRIVER, type StorageDriver } from './storage-driver';

/** Builds the driver named by config; a relative fs path is taken from the working directory. */
export function createStorageDriver(
  config: AppConfig['storage'],
  cwd: string = process.cwd(),
): StorageDriver {
  switch (config.driver) {
    case 'fs':
      return new FsStorageDriver(resolve(cwd, config.path));
    case 's3':
      return new S3StorageDriver(config);
  }
}

@Global()
@Module({
  providers: [
    {
      provide: STORAGE_DRIVER,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): StorageDriver => createStorageDriver(config.storage),
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
