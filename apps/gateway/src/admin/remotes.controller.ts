import { Controller, Delete, Get, Param, Put, UseGuards } from '@nestjs/common';
import { type RemoteStateView, RemoteStates } from '../serving/remote-states.service';
import { AdminTokenGuard } from './admin-token.guard';

/** Proxy remotes' states, and switching one offline and back at run time, on every gateway. */
@Controller('admin/api/remotes')
@UseGuards(AdminTokenGuard)
export class RemotesController {
  constructor(private readonly states: RemoteStates) {}

  @Get()
  list(): { remotes: RemoteStateView[] } {
    return { remotes: this.states.list() };
  }

  @Put(':remote/offline')
  offline(@Param('remote') remote: string): Promise<RemoteStateView> {
    return this.states.switchOffline(remote, true);
  }

  @Delete(':remote/offline')
  online(@Param('remote') remote: string): Promise<RemoteStateView> {
    return this.states.switchOffline(remote, false);
  }
}
