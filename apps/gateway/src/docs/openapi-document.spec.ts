import 'reflect-metadata';
import { RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, MODULE_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ARTIFACT_ERROR_CODES, ArtifactError } from '@app/common';
import { type AppConfig, PACKAGE_TYPES, REMOTE_KEYS } from '@app/config';
import { ROUTING_ERROR_CODES } from '../errors/api-exception.filter';
import { GatewayModule } from '../gateway.module';
import {
  DocsService,
  OPENAPI_FILE,
  SWAGGER_ASSETS,
  loadOpenApiDocument,
  repositoryRoot,
} from './docs.service';

type Method = 'get' | 'head' | 'put' | 'post' | 'delete';

interface Operation {
  security?: Array<Record<string, string[]>>;
  responses: Record<string, unknown>;
  parameters?: unknown[];
}

interface Document {
  openapi: string;
  paths: Record<string, Partial<Record<Method, Operation>> & { parameters?: unknown[] }>;
  components: Record<string, Record<string, unknown>>;
}

const ROOT = repositoryRoot();
if (ROOT === null) {
  throw new Error('repositoryRoot() found no artifact-cache package.json');
}
const loaded = loadOpenApiDocument(join(ROOT, OPENAPI_FILE));
const doc = parse(loaded.yaml) as Document;

/** Every route of docs/HTTP-API.md, as the OpenAPI document must name it. */
const DOCUMENTED_ROUTES: Array<[string, Method[]]> = [
  ['/', ['get']],
  ['/health', ['get']],
  ['/config', ['get']],
  ['/metrics', ['get']],
  ['/v2/', ['get']],
  ['/v2/{remote}/{image}/manifests/{reference}', ['get', 'head']],
  ['/v2/{remote}/{image}/blobs/{digest}', ['get', 'head']],
  ['/v2/{remote}/{image}/tags/list', ['get']],
  ['/v2/{image}/manifests/{reference}', ['get', 'head']],
  ['/v2/{image}/blobs/{digest}', ['get', 'head']],
  ['/v2/{image}/tags/list', ['get']],
  ['/api/v1/remote/{remote}/{path}', ['get', 'head', 'put', 'delete']],
  ['/cache/flush', ['put']],
  ['/cache/{remote}/{path}', ['delete']],
  ['/admin/api/usage', ['get']],
  ['/admin/api/remotes', ['get']],
  ['/admin/api/remotes/{remote}/offline', ['put', 'delete']],
  ['/admin/api/evict', ['post']],
  ['/admin/api/queues/jobs', ['get']],
  ['/admin/api/queues/jobs/{id}/retry', ['post']],
  ['/admin/api/queues/jobs/{id}/cancel', ['post']],
  ['/admin/api/queues/jobs/{id}', ['delete']],
  ['/admin/queues', ['get']],
];

/** The console's pages and forms behind its session cookie (the login form and page are not). */
const CONSOLE_SESSION_OPERATIONS = new Set([
  'post /admin/logout',
  'get /admin/remotes/{remote}',
  'post /admin/remotes/{remote}/{action}',
  'put /admin/remotes/{remote}/files/{path}',
]);

const ADMIN_OPERATIONS: Array<[string, Method]> = [
  ['/api/v1/remote/{remote}/{path}', 'put'],
  ['/api/v1/remote/{remote}/{path}', 'delete'],
  ['/cache/flush', 'put'],
  ['/cache/{remote}/{path}', 'delete'],
  ['/admin/api/usage', 'get'],
  ['/admin/api/remotes', 'get'],
  ['/admin/api/remotes/{remote}/offline', 'put'],
  ['/admin/api/remotes/{remote}/offline', 'delete'],
  ['/admin/api/evict', 'post'],
  ['/admin/api/warm', 'post'],
  ['/admin/api/warm/{id}', 'get'],
  ['/admin/api/queues', 'get'],
  ['/admin/api/queues/jobs', 'get'],
  ['/admin/api/queues/jobs/{id}/retry', 'post'],
  ['/admin/api/queues/jobs/{id}/cancel', 'post'],
  ['/admin/api/queues/jobs/{id}', 'delete'],
  ['/admin/queues', 'get'],
];

const METHODS: Method[] = ['get', 'head', 'put', 'post', 'delete'];

function operation(path: string, method: Method): Operation {
  const op = doc.paths[path]?.[method];
  if (!op) {
    throw new Error(`docs/openapi.yaml has no ${method.toUpperCase()} ${path}`);
  }
  return op;
}

function resolve(ref: string): unknown {
  const parts = ref.replace(/^#\//, '').split('/');
  let node: unknown = doc;
  for (const part of parts) {
    node = (node as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/')];
  }
  return node;
}

function refsIn(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) {
    node.forEach((item) => refsIn(item, found));
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') {
        found.push(value);
      } else {
        refsIn(value, found);
      }
    }
  }
  return found;
}

/** The controllers of every module the gateway imports, walked from GatewayModule.forRoot. */
function gatewayControllers(): Array<Type<unknown>> {
  const config = {
    redis: { mode: 'standalone', url: 'redis://127.0.0.1:6379' },
    remotes: {},
  } as unknown as AppConfig;
  const seen = new Set<unknown>();
  const controllers: Array<Type<unknown>> = [];
  const visit = (entry: unknown): void => {
    if (!entry || seen.has(entry)) {
      return;
    }
    seen.add(entry);
    const dynamic = entry as { module?: Type<unknown>; imports?: unknown[]; controllers?: [] };
    const moduleClass = typeof entry === 'function' ? entry : dynamic.module;
    const metadata = (key: string) =>
      (moduleClass ? (Reflect.getMetadata(key, moduleClass) as unknown[] | undefined) : []) ?? [];
    controllers.push(
      ...(metadata(MODULE_METADATA.CONTROLLERS) as Array<Type<unknown>>),
      ...((dynamic.controllers ?? []) as Array<Type<unknown>>),
    );
    [...metadata(MODULE_METADATA.IMPORTS), ...(dynamic.imports ?? [])].forEach(visit);
    if (moduleClass && moduleClass !== entry) {
      visit(moduleClass);
    }
  };
  visit(GatewayModule.forRoot(config));
  return [...new Set(controllers)];
}

/** `[method, '/prefix/:param/*']` of each handler of a controller. */
function routesOf(controller: Type<unknown>): Array<[Method, string]> {
  const prefix = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
  const proto = controller.prototype as Record<string, unknown>;
  const routes: Array<[Method, string]> = [];
  for (const name of Object.getOwnPropertyNames(proto)) {
    const handler = proto[name];
    if (name === 'constructor' || typeof handler !== 'function') {
      continue;
    }
    const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
    if (method === undefined) {
      continue;
    }
    const paths = Reflect.getMetadata(PATH_METADATA, handler) as string | string[];
    for (const path of Array.isArray(paths) ? paths : [paths]) {
      const full = `/${[prefix, path].filter((p) => p && p !== '/').join('/')}`.replace(
        /\/+/g,
        '/',
      );
      routes.push([RequestMethod[method].toLowerCase() as Method, full]);
    }
  }
  return routes;
}

/** Whether the Nest route (`:param`, `*` wildcard) serves a URL of the document's template. */
function routeServes(nestPath: string, template: string): boolean {
  const trim = (p: string) => (p.length > 1 ? p.replace(/\/$/, '') : p);
  const pattern = trim(nestPath)
    .split(/(:[A-Za-z_]+|\*)/)
    .map((part) =>
      part === '*'
        ? '.+'
        : part.startsWith(':')
          ? '[^/]+'
          : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  const sample = trim(template.replace(/\{[^}]+\}/g, 'x'));
  return new RegExp(`^${pattern}$`).test(sample);
}

describe('docs/openapi.yaml', () => {
  it('is an OpenAPI 3.1 document whose JSON form is the same document', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(JSON.parse(loaded.json)).toEqual(doc);
  });

  it.each(DOCUMENTED_ROUTES)('documents %s (%s)', (path, methods) => {
    for (const method of methods) {
      expect(Object.keys(operation(path, method).responses).length).toBeGreaterThan(0);
    }
  });

  it('documents every route the gateway controllers define', () => {
    const routes = gatewayControllers().flatMap(routesOf);
    // The walk found the real controllers, not nothing.
    expect(routes).toEqual(
      expect.arrayContaining([
        ['put', '/api/v1/remote/:remote/*'],
        ['get', '/docs/assets/:name'],
      ]),
    );
    const missing = routes.filter(
      ([method, nestPath]) =>
        !Object.entries(doc.paths).some(
          ([template, item]) => item[method] !== undefined && routeServes(nestPath, template),
        ),
    );
    expect(missing).toEqual([]);
  });

  it('puts the admin token on writes and admin routes, and on nothing else', () => {
    const scheme = doc.components.securitySchemes.adminToken as { type: string; scheme: string };
    expect(scheme).toMatchObject({ type: 'http', scheme: 'bearer' });
    const protectedOps = new Set(ADMIN_OPERATIONS.map(([p, m]) => `${m} ${p}`));
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) {
          continue;
        }
        const schemes = (op.security ?? []).flatMap((requirement) => Object.keys(requirement));
        if (CONSOLE_SESSION_OPERATIONS.has(`${method} ${path}`)) {
          expect({ op: `${method} ${path}`, schemes }).toEqual({
            op: `${method} ${path}`,
            schemes: ['consoleSession'],
          });
        } else if (protectedOps.has(`${method} ${path}`)) {
          expect({ op: `${method} ${path}`, schemes }).toEqual({
            op: `${method} ${path}`,
            schemes: expect.arrayContaining(['adminToken']),
          });
          expect(op.responses).toHaveProperty('401');
          expect(op.responses).toHaveProperty('403');
        } else {
          expect({ op: `${method} ${path}`, schemes }).toEqual({
            op: `${method} ${path}`,
            schemes: [],
          });
        }
      }
    }
  });

  it('describes both error formats', () => {
    const schemas = doc.components.schemas as Record<string, { required?: string[] }>;
    expect(schemas.Error.required).toEqual(['error', 'message']);
    expect(schemas.RegistryErrors.required).toEqual(['errors']);
    const notFound = resolve(
      (operation('/v2/{remote}/{image}/blobs/{digest}', 'get').responses['404'] as { $ref: string })
        .$ref,
    );
    expect(refsIn(notFound)).toContain('#/components/schemas/RegistryErrors');
  });

  it('documents the headers of docs/HTTP-API.md on the artifact route', () => {
    const ok = resolve('#/components/responses/Artifact') as { headers: Record<string, unknown> };
    expect(Object.keys(ok.headers)).toEqual(
      expect.arrayContaining([
        'X-Artifact-Source',
        'X-Artifact-Size',
        'Content-Length',
        'ETag',
        'X-Checksum-Sha256',
        'Content-Disposition',
      ]),
    );
    const get = operation('/api/v1/remote/{remote}/{path}', 'get');
    expect(Object.keys(get.responses)).toEqual(
      expect.arrayContaining(['200', '206', '304', '404', '416', '502']),
    );
    const put = operation('/api/v1/remote/{remote}/{path}', 'put');
    expect(Object.keys(put.responses)).toEqual(expect.arrayContaining(['201', '400', '409']));
    const del = operation('/api/v1/remote/{remote}/{path}', 'delete');
    expect(Object.keys(del.responses)).toEqual(expect.arrayContaining(['204', '404']));
  });

  it('has no dangling $ref', () => {
    const dangling = refsIn(doc).filter((ref) => resolve(ref) === undefined);
    expect(dangling).toEqual([]);
  });

  it('uses placeholder hosts only', () => {
    const hosts = [...loaded.yaml.matchAll(/https?:\/\/([^/\s:'"`)]+)/g)].map((m) => m[1]);
    expect(hosts.length).toBeGreaterThan(0);
    for (const host of hosts) {
      expect(host).toMatch(/(^|\.)example\.org$/);
    }
  });
});

describe('DocsService', () => {
  it('loads the document and serves only the listed Swagger UI files', () => {
    const docs = new DocsService();
    expect(docs.openApi().yaml).toBe(loaded.yaml);
    const asset = docs.asset('swagger-ui-bundle.js');
    asset.body.destroy();
    expect(asset.contentType).toMatch(/^text\/javascript/);
    for (const name of ['../../package.json', 'package.json', 'index.html', '__proto__', '']) {
      expect(() => docs.asset(name)).toThrow(ArtifactError);
    }
  });

  it('refuses a YAML file that is not an OpenAPI 3 document', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
    try {
      writeFileSync(join(dir, 'swagger.yaml'), 'swagger: "2.0"\npaths: {}\n');
      expect(() => loadOpenApiDocument(join(dir, 'swagger.yaml'))).toThrow(/not an OpenAPI 3/);
      expect(repositoryRoot(dir)).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Swagger UI assets', () => {
  it('are files of the swagger-ui-dist package', () => {
    const dir = join(require.resolve('swagger-ui-dist/package.json'), '..');
    for (const name of Object.keys(SWAGGER_ASSETS)) {
      expect({ name, exists: existsSync(join(dir, name)) }).toEqual({ name, exists: true });
    }
  });
});

describe('docs/openapi.yaml against the lists in the code', () => {
  const schema = (name: string) =>
    doc.components.schemas[name] as {
      properties: Record<string, { enum?: string[]; const?: string }>;
    };

  it('names every error code the gateway answers with, and no other', () => {
    const codes = schema('Error').properties.error.enum ?? [];
    expect([...codes].sort()).toEqual([...ARTIFACT_ERROR_CODES, ...ROUTING_ERROR_CODES].sort());
  });

  it('has docs/HTTP-API.md name the same error codes', () => {
    const text = readFileSync(join(ROOT, 'docs/HTTP-API.md'), 'utf8');
    const table = text.slice(
      text.search(/^\| status +\| codes/m),
      text.indexOf('Answers that are worth'),
    );
    const codes = table
      .split('\n')
      .flatMap((row) => [...(row.split('|')[2] ?? '').matchAll(/`([a-z_]+)`/g)]);
    expect(codes.map((match) => match[1]).sort()).toEqual(
      [...ARTIFACT_ERROR_CODES, ...ROUTING_ERROR_CODES].sort(),
    );
  });

  it("describes a remote's keys and package types as the config schema has them", () => {
    const proxy = schema('RedactedProxyRemote').properties;
    const local = schema('RedactedLocalRemote').properties;
    expect([...new Set([...Object.keys(proxy), ...Object.keys(local)])].sort()).toEqual(
      [...REMOTE_KEYS].sort(),
    );
    expect([...(proxy.package.enum ?? []), local.package.const].sort()).toEqual(
      [...PACKAGE_TYPES].sort(),
    );
  });
});
