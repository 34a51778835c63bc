import { Test } from '@nestjs/testing';
import { resolve } from 'node:path';
import { buildAppConfig } from './app-config.loader';
import { ConfigModule } from './config.module';
import { APP_CONFIG, type AppConfig } from './config.types';

describe('ConfigModule', () => {
  it('forRoot provides the given object', async () => {
    const config = buildAppConfig({ remotes: {} });
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config)],
    }).compile();
    expect(moduleRef.get<AppConfig>(APP_CONFIG)).toBe(config);
  });

  it('loads the configuration itself when imported plainly', async () => {
    const saved = process.env.ARTIFACT_CONFIG;
    process.env.ARTIFACT_CONFIG = resolve(__dirname, '../../../config/remotes.yaml');
    try {
      const moduleRef = await Test.createTestingModule({ imports: [ConfigModule] }).compile();
      const config = moduleRef.get<AppConfig>(APP_CONFIG);
      expect(Object.isFrozen(config)).toBe(true);
      expect(config.configFile).toBe(process.env.ARTIFACT_CONFIG);
    } finally {
      if (saved === undefined) {
        delete process.env.ARTIFACT_CONFIG;
      } else {
        process.env.ARTIFACT_CONFIG = saved;
      }
    }
  });
});
