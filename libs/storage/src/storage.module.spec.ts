import { Global, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { FsStorageDriver } from './fs-storage.driver';
import { S3StorageDriver } from './s3-storage.driver';
import { STORAGE_DRIVER, type StorageDriver } from './storage-driver';
import { createStorageDriver, StorageModule } from './storage.module';

describe('createStorageDriver', () => {
  it('resolves a relative fs path against the working directory', async () => {
    const driver = await createStorageDriver({ driver: 'fs', path: 'data/storage' }, '/srv/cache');
    expect(driver).toBeInstanceOf(FsStorageDriver);
    expect((driver as FsStorageDriver).root).toBe('/srv/cache/data/storage');
  });

  it('keeps an absolute fs path', async () => {
    const driver = await createStorageDriver(
      { driver: 'fs', path: '/var/lib/cache' },
      '/srv/cache',
    );
    expect((driver as FsStorageDriver).root).toBe('/var/lib/cache');
  });

  it('builds an s3 driver', async () => {
    const driver = await createStorageDriver({
      driver: 's3',
      endpoint: 'http://127.0.0.1:9',
      bucket: 'b',
      region: 'us-east-1',
      accessKeyId: 'a',
      secretAccessKey: 's',
      forcePathStyle: true,
    });
    expect(driver).toBeInstanceOf(S3StorageDriver);
    expect(driver.kind).toBe('s3');
    await driver.close();
  });
});

describe('StorageModule', () => {
  it('provides the configured driver and closes it when the module is destroyed', async () => {
    const config = { storage: { driver: 'fs', path: 'relative/root' } } as unknown as AppConfig;

    @Global()
    @Module({ providers: [{ provide: APP_CONFIG, useValue: config }], exports: [APP_CONFIG] })
    class TestConfigModule {}

    const moduleRef = await Test.createTestingModule({
      imports: [TestConfigModule, StorageModule],
    }).compile();
    const driver = moduleRef.get<StorageDriver>(STORAGE_DRIVER);
    expect(driver).toBeInstanceOf(FsStorageDriver);
    expect((driver as FsStorageDriver).root).toBe(`${process.cwd()}/relative/root`);
    const close = jest.spyOn(driver, 'close');
    await moduleRef.close();
    expect(close).toHaveBeenCalledTimes(1);
  });
});
