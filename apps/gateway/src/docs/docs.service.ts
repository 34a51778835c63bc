import { Injectable, Logger } from '@nestjs/common';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { parse } from 'yaml';
import { ArtifactError } from '@app/common';

/** The repository's file that documents the gateway's HTTP API. */
export const OPENAPI_FILE = join('docs', 'openapi.yaml');

/**
 * The Swagger UI files the docs page uses, with their types: the only names served under
 * /docs/assets/. A fixed list rather than a path check, so nothing outside these files (the rest
 * of the package, `..`, encoded slashes) can ever be named.
 */
export const SWAGGER_ASSETS: Readonly<Record<string, string>> = Object.freeze({
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui.css.map': 'application/json; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-bundle.js.map': 'application/json; charset=utf-8',
  'favicon-16x16.png': 'image/png',
  'favicon-32x32.png': 'image/png',
});

export interface OpenApiDocument {
  /** the file as written */
  yaml: string;
  /** the same document as JSON */
  json: string;
}

export interface DocsAsset {
  contentType: string;
  size: number;
  body: Readable;
}

/**
 * Loads docs/openapi.yaml once, at start-up. A gateway without its docs (a file left out of an
 * image, a broken edit) still serves artifacts: the docs routes answer 404 and the reason is
 * logged, since documentation must never take the cache down.
 */
@Injectable()
export class DocsService {
  private readonly logger = new Logger(DocsService.name);
  private readonly document: OpenApiDocument | null;
  private readonly assetsDir: string | null;

  constructor() {
    this.document = this.tryLoad('the OpenAPI document', () => {
      const root = repositoryRoot();
      if (root === null) {
        throw new Error('no artifact-cache package.json above ' + __dirname);
      }
      return loadOpenApiDocument(join(root, OPENAPI_FILE));
    });
    this.assetsDir = this.tryLoad('Swagger UI', swaggerUiDir);
  }

  openApi(): OpenApiDocument {
    if (this.document === null) {
      throw new ArtifactError(
        'not_found',
        `the OpenAPI document (${OPENAPI_FILE}) could not be loaded; see the gateway's log`,
      );
    }
    return this.document;
  }

  /** One of SWAGGER_ASSETS, streamed from the swagger-ui-dist package. */
  asset(name: string): DocsAsset {
    if (!Object.hasOwn(SWAGGER_ASSETS, name) || this.assetsDir === null) {
      throw new ArtifactError('not_found', `no docs asset named ${JSON.stringify(name)}`);
    }
    const file = join(this.assetsDir, name);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      throw new ArtifactError(
        'not_found',
        `the docs asset ${name} is missing from swagger-ui-dist`,
      );
    }
    return { contentType: SWAGGER_ASSETS[name], size, body: createReadStream(file) };
  }

  private tryLoad<T>(what: string, load: () => T): T | null {
    try {
      return load();
    } catch (error) {
      this.logger.warn(`/docs will not serve ${what}: ${(error as Error).message}`);
      return null;
    }
  }
}

/** Reads and checks the YAML; the JSON form is made here once. */
export function loadOpenApiDocument(file: string): OpenApiDocument {
  const yaml = readFileSync(file, 'utf8');
  const parsed = parse(yaml) as { openapi?: unknown } | null;
  if (typeof parsed?.openapi !== 'string' || !parsed.openapi.startsWith('3.')) {
    throw new Error(`${file} is not an OpenAPI 3 document`);
  }
  return { yaml, json: JSON.stringify(parsed) };
}

/**
 * The directory of the repository's package.json, found by walking up from here: the same from
 * the TypeScript sources and from the build in dist/ (as appVersion() does).
 */
export function repositoryRoot(from: string = __dirname): string | null {
  let dir = from;
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        const parsed = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown };
        if (parsed.name === 'artifact-cache') {
          return dir;
        }
      } catch {
        // Not JSON: keep walking up.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) {
      return null;
    }
    dir = parent;
  }
}

function swaggerUiDir(): string {
  return dirname(require.resolve('swagger-ui-dist/package.json'));
}
