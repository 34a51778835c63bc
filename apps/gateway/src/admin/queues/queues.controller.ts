import { Controller, Delete, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { AdminTokenGuard } from '../admin-token.guard';
import { type JobView, QueueInspectionService } from './queue-inspection.service';

/** JSON API over the fetch queue (the web UI is at /admin/queues). */
@Controller('admin/api/queues')
@UseGuards(AdminTokenGuard)
export class QueuesController {
  constructor(private readonly inspection: QueueInspectionService) {}

  @Get()
  counts() {
    return this.inspection.counts();
  }

  @Get('jobs')
  async jobs(
    @Query('state') state = 'failed',
    @Query('limit') limit = '100',
  ): Promise<{ state: string; jobs: JobView[] }> {
    return { state, jobs: await this.inspection.jobs(state, Number(limit) || 100) };
  }

  @Post('jobs/:id/retry')
  retry(@Param('id') id: string): Promise<JobView> {
    return this.inspection.retry(id);
  }

  @Post('jobs/:id/cancel')
  cancel(@Param('id') id: string): Promise<JobView> {
    return this.inspection.cancel(id);
  }

  @Delete('jobs/:id')
  @HttpCode(204)
  async remove(@Param('id') id: string): Promise<void> {
    await this.inspection.remove(id);
  }
}
