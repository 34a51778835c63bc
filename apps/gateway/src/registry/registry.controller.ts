import { Controller, Get, Header } from '@nestjs/common';

/** Docker Registry HTTP API v2 (SPEC §4). */
@Controller('v2')
export class RegistryController {
  @Get()
  @Header('Docker-Distribution-Api-Version', 'registry/2.0')
  ping(): Record<string, never> {
    return {};
  }
}
