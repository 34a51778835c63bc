import { Global, Module, type DynamicModule } from '@nestjs/common';
import { loadAppConfig } from './app-config.loader';
import { APP_CONFIG, type AppConfig } from './config.types';

/**
 * Provides the frozen AppConfig as APP_CONFIG to every module. Import it once, in the app's root
 * module: plain `ConfigModule` loads the configuration itself; `ConfigModule.forRoot(config)`
 * provides the object that main.ts already loaded (to fail before Nest starts).
 */
@Global()
@Module({
  providers: [{ provide: APP_CONFIG, useFactory: (): AppConfig => loadAppConfig() }],
  exports: [APP_CONFIG],
})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    // Dynamic providers are registered after the decorator's, so this value replaces the factory,
    // which then never runs.
    return {
      module: ConfigModule,
      global: true,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
