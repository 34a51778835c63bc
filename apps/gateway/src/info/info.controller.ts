import { Controller, Get, Inject } from '@nestjs/common';
import { appVersion } from '@app/common';
import { APP_CONFIG, type AppConfig, redactConfig } from '@app/config';

@Controller()
export class InfoController {
  private readonly version = appVersion();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get()
  root() {
    return {
      name: 'artifact-cache',
      version: this.version,
      remotes: Object.keys(this.config.remotes),
    };
  }

  @Get('config')
  redacted() {
    return redactConfig(this.config);
  }
}
