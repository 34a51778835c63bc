import { Controller, Get, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import type { PassReport } from '@app/eviction';
import { AdminTokenGuard } from './admin-token.guard';
import { StorageUsageService, type UsageView } from './storage-usage.service';

/** Storage usage and eviction (docs/STORAGE.md), behind the admin token. */
@Controller('admin/api')
@UseGuards(AdminTokenGuard)
export class StorageController {
  constructor(private readonly usage: StorageUsageService) {}

  @Get('usage')
  view(): Promise<UsageView> {
    return this.usage.usage();
  }

  /** `?dry_run=true` lists what a pass would remove and removes nothing. */
  @Post('evict')
  @HttpCode(200)
  evict(@Query('dry_run') dryRun?: string): Promise<PassReport> {
    return this.usage.evict(dryRun === 'true' || dryRun === '1');
  }
}
