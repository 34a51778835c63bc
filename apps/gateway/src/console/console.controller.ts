import {
  Controller,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Put,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ArtifactError, isArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig, type RemoteConfig } from '@app/config';
import { servesImages } from '@app/formats';
import { AdminTokenCheck, tokenFingerprint } from '../admin/admin-token';
import { CacheFlushService } from '../admin/cache-flush.service';
import { CachePurgeService } from '../admin/cache-purge.service';
import { WarmUps } from '../admin/warm/warm-ups.service';
import { HostedService, type UploadResult } from '../hosted/hosted.service';
import { uploadOf } from '../hosted/upload-body';
import { readSmallBody } from '../http/json-body';
import { splitRemotePath } from '../http/path-guard';
import { auditedAs } from '../http/request-log.hook';
import { resolveRemote } from '../serving/remote-resolver';
import { RemoteStates } from '../serving/remote-states.service';
import { ConsoleData } from './console-data.service';
import { CONSOLE_CSP, CONSOLE_CSS, CONSOLE_JS } from './console-html';
import { type Notice, loginPage, overviewPage, remotePage } from './console-pages';
import {
  ConsoleSessions,
  SESSION_COOKIE,
  SESSION_SECONDS,
  cookieValue,
  sameOrigin,
} from './console-session';

/** A console form is a few fields. */
const FORM_MAX_BYTES = 16 * 1024;
/** A warm-up started from the console is not waited for. */
const WARM_START_TIMEOUT_MS = 5000;

type Action = 'offline' | 'online' | 'flush' | 'purge' | 'warm' | 'delete';
const ACTIONS: readonly Action[] = ['offline', 'online', 'flush', 'purge', 'warm', 'delete'];

/**
 * The web console (docs/OPERATIONS.md "Console"): server-rendered pages over the admin API's
 * services, behind ADMIN_TOKEN. Logging in trades the token for a signed session cookie
 * (HttpOnly, SameSite=Strict); every form posts a token bound to the session and is refused
 * from another origin.
 */
@Controller('admin')
export class ConsoleController {
  private readonly check: AdminTokenCheck;
  private readonly sessions: ConsoleSessions | null;
  private readonly who: string | null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly data: ConsoleData,
    private readonly states: RemoteStates,
    private readonly flusher: CacheFlushService,
    private readonly purger: CachePurgeService,
    private readonly warmUps: WarmUps,
    private readonly hosted: HostedService,
  ) {
    this.check = new AdminTokenCheck(config.adminToken);
    this.sessions = config.adminToken === null ? null : new ConsoleSessions(config.adminToken);
    this.who = config.adminToken === null ? null : tokenFingerprint(`Bearer ${config.adminToken}`);
  }

  @Get('console.css')
  stylesheet(@Res({ passthrough: true }) reply: FastifyReply): string {
    reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'max-age=300');
    return CONSOLE_CSS;
  }

  @Get('console.js')
  script(@Res({ passthrough: true }) reply: FastifyReply): string {
    reply
      .header('content-type', 'text/javascript; charset=utf-8')
      .header('cache-control', 'max-age=300');
    return CONSOLE_JS;
  }

  /**
   * An upload from a hosted remote's page (its script sends the file as the body, to show
   * progress): the session, the page's form token in X-Form-Token, the console's origin.
   */
  @Put('remotes/:remote/files/*')
  @HttpCode(201)
  async upload(@Req() request: FastifyRequest): Promise<UploadResult & { page: string }> {
    const nonce = this.authorized(request);
    if (
      !(this.sessions as ConsoleSessions).checkFormToken(nonce, request.headers['x-form-token'])
    ) {
      throw new ArtifactError('bad_token', 'the upload is not one of this console session');
    }
    const { remote, rawPath } = splitRemotePath(request.raw.url ?? request.url, '/admin/remotes/');
    const upload = uploadOf(request);
    const path = rawPath.replace(/^files\//, '');
    const result = await this.hosted.put(remote, path, upload.body, upload.sha256);
    return {
      ...result,
      page: this.noticeLocation(remote, nonce, `Uploaded ${result.path}.`),
    };
  }

  @Get()
  async overview(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('done') done?: string,
  ): Promise<string> {
    const nonce = this.session(request);
    if (nonce === null) {
      return this.html(
        reply,
        this.config.adminToken === null ? 403 : 200,
        loginPage(this.disabled()),
      );
    }
    const notice = done === 'logged-in' ? { text: 'Logged in.', error: false } : null;
    return this.html(
      reply,
      200,
      overviewPage(await this.data.overview(), this.formToken(nonce), notice),
    );
  }

  @Post('login')
  async login(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    this.refuseCrossSite(request);
    const form = await readForm(request);
    try {
      this.check.verify(`Bearer ${form.get('token') ?? ''}`);
    } catch (error) {
      const status = isArtifactError(error, 'admin_disabled') ? 403 : 401;
      const why = status === 403 ? this.disabled() : 'That is not the admin token.';
      await reply.status(status).headers(pageHeaders()).send(loginPage(why));
      return;
    }
    auditedAs.set(request.raw, this.who as string);
    const value = (this.sessions as ConsoleSessions).issue(nowSeconds());
    await reply
      .status(303)
      .header('set-cookie', cookie(request, value, SESSION_SECONDS))
      .header('location', '/admin?done=logged-in')
      .send();
  }

  @Post('logout')
  async logout(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.authorizedForm(request);
    await reply
      .status(303)
      .header('set-cookie', cookie(request, '', 0))
      .header('location', '/admin')
      .send();
  }

  @Get('remotes/:remote')
  async remote(
    @Param('remote') name: string,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('q') query = '',
    @Query('done') done?: string,
    @Query('mac') mac?: string,
  ): Promise<string> {
    const nonce = this.session(request);
    if (nonce === null) {
      reply.status(303).header('location', '/admin');
      return '';
    }
    const remote = resolveRemote(this.config, name);
    const signed =
      done !== undefined && (this.sessions as ConsoleSessions).checkNotice(nonce, done, mac);
    const notice = signed ? { text: done, error: false } : null;
    return this.html(
      reply,
      200,
      remotePage(await this.data.remote(remote, query), query, this.formToken(nonce), notice),
    );
  }

  @Post('remotes/:remote/:action')
  async act(
    @Param('remote') name: string,
    @Param('action') action: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { form, nonce } = await this.authorizedForm(request);
    const remote = resolveRemote(this.config, name);
    if (!ACTIONS.includes(action as Action)) {
      throw new ArtifactError('not_found', `no console action ${action}`);
    }
    let notice: Notice;
    try {
      notice = {
        text: await this.perform(remote, action as Action, form, String(request.id)),
        error: false,
      };
    } catch (error) {
      if (!isArtifactError(error)) {
        throw error;
      }
      const status = error.code === 'not_found' ? 404 : 400;
      const detail = await this.data.remote(remote, '');
      await reply
        .status(status)
        .headers(pageHeaders())
        .send(remotePage(detail, '', this.formToken(nonce), { text: error.message, error: true }));
      return;
    }
    await reply
      .status(303)
      .header('location', this.noticeLocation(remote.name, nonce, notice.text))
      .send();
  }

  /** A remote's page showing `text` as the outcome of what this session just did. */
  private noticeLocation(remote: string, nonce: string, text: string): string {
    const mac = (this.sessions as ConsoleSessions).noticeMac(nonce, text);
    return `/admin/remotes/${encodeURIComponent(remote)}?done=${encodeURIComponent(text)}&mac=${mac}`;
  }

  private async perform(
    remote: RemoteConfig,
    action: Action,
    form: URLSearchParams,
    requestId: string,
  ): Promise<string> {
    const path = (form.get('path') ?? '').trim().replace(/^\/+/, '');
    switch (action) {
      case 'offline':
      case 'online':
        await this.states.switchOffline(remote.name, action === 'offline');
        return `${remote.name} is ${action} on every gateway.`;
      case 'flush': {
        const { flushed } = await this.flusher.flush(remote.name);
        return `Flushed ${remote.name}: ${flushed.records} records, ${flushed.s3_objects} stored objects.`;
      }
      case 'purge': {
        const encoded = encodedPath(path);
        const { purged } = await this.purger.purge(remote.name, encoded, requestId);
        return `Purged ${path}: ${purged.records} records, ${purged.objects} stored objects.`;
      }
      case 'delete':
        await this.hosted.delete(remote.name, encodedPath(path));
        return `Deleted ${path}.`;
      case 'warm': {
        if (path === '') {
          throw new ArtifactError('bad_request', 'name a path (or an image) to warm');
        }
        const body = servesImages(remote)
          ? { images: [`${remote.name}/${path}`] }
          : { paths: [`${remote.name}/${path}`] };
        const view = await this.warmUps.start(body, 0, AbortSignal.timeout(WARM_START_TIMEOUT_MS));
        return `Warm-up ${view.id} started for ${path}: GET /admin/api/warm/${view.id} follows it.`;
      }
    }
  }

  /** A console form post: same origin, a live session, the session's form token. */
  private async authorizedForm(
    request: FastifyRequest,
  ): Promise<{ form: URLSearchParams; nonce: string }> {
    const nonce = this.authorized(request);
    const form = await readForm(request);
    if (!(this.sessions as ConsoleSessions).checkFormToken(nonce, form.get('form_token'))) {
      throw new ArtifactError('bad_token', 'the form is not one of this console session');
    }
    return { form, nonce };
  }

  /** A change from the console: same origin and a live session (audited as the token's). */
  private authorized(request: FastifyRequest): string {
    this.refuseCrossSite(request);
    const nonce = this.session(request);
    if (nonce === null) {
      throw new ArtifactError('unauthorized', 'log in to the console first: /admin');
    }
    auditedAs.set(request.raw, this.who as string);
    return nonce;
  }

  private refuseCrossSite(request: FastifyRequest): void {
    if (!sameOrigin(request.headers)) {
      throw new ArtifactError('forbidden', 'a console form posted from another site');
    }
  }

  private session(request: FastifyRequest): string | null {
    return (
      this.sessions?.verify(cookieValue(request.headers.cookie, SESSION_COOKIE), nowSeconds()) ??
      null
    );
  }

  private formToken(nonce: string): string {
    return (this.sessions as ConsoleSessions).formToken(nonce);
  }

  private disabled(): string | null {
    return this.config.adminToken === null
      ? 'The console is disabled: start the gateway with ADMIN_TOKEN set to enable it.'
      : null;
  }

  private html(reply: FastifyReply, status: number, body: string): string {
    reply.status(status).headers(pageHeaders());
    return body;
  }
}

function pageHeaders(): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': CONSOLE_CSP,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
  };
}

async function readForm(request: FastifyRequest): Promise<URLSearchParams> {
  const type = request.headers['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) {
    throw new ArtifactError('bad_request', 'a console form is application/x-www-form-urlencoded');
  }
  return new URLSearchParams((await readSmallBody(request, FORM_MAX_BYTES)).toString('utf8'));
}

function cookie(request: FastifyRequest, value: string, maxAge: number): string {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`;
}

/** A path as typed, as the request path the API's services take. */
function encodedPath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
