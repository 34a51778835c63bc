import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { launchChromium } from './helpers/browser';
import { rawRequest, request, sha256Of } from './helpers/http';
import { Stack } from './helpers/stack';

const ROOT = join(__dirname, '..');
const SWAGGER_UI_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));

describe('docs: the OpenAPI document and Swagger UI, served by the gateway', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({
      remotes: {
        'docs-files': { package: 'generic', base_url: 'http://127.0.0.1:9/files' },
        'docs-hosted': { package: 'local' },
      },
      env: { ADMIN_TOKEN: 'docs-admin-token' },
    });
  });

  afterAll(() => stack.stop());

  it('GET /docs is an HTML page that loads Swagger UI from the gateway and points it at /docs/openapi.json', async () => {
    const response = await request(`${stack.url()}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    const html = response.body.toString('utf8');
    expect(html).toContain('/docs/openapi.json');
    expect(html).toContain('/docs/assets/swagger-ui-bundle.js');
    // Nothing from another host: no absolute URL in any src or href, and the CSP says so too.
    const references = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(references.length).toBeGreaterThan(0);
    for (const reference of references) {
      expect(reference).toMatch(/^\/docs\//);
    }
    const csp = String(response.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/https?:/);
  });

  it('every file the page references is served', async () => {
    const html = (await request(`${stack.url()}/docs`)).body.toString('utf8');
    const references = [...html.matchAll(/\b(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(references.length).toBeGreaterThanOrEqual(2);
    for (const reference of references) {
      const response = await request(`${stack.url()}${reference}`);
      expect({ reference, status: response.status }).toEqual({ reference, status: 200 });
    }
  });

  it('GET /docs/openapi.json is the YAML document as JSON, OpenAPI 3.x', async () => {
    const response = await request(`${stack.url()}/docs/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const document = JSON.parse(response.body.toString('utf8'));
    expect(document.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/', '/health', '/api/v1/remote/{remote}/{path}', '/cache/flush']),
    );
    expect(document).toEqual(parse(readFileSync(join(ROOT, 'docs/openapi.yaml'), 'utf8')));
  });

  it('"Try it out" in a real browser calls the gateway the page came from', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${stack.url()}/docs`);
      const health = page.locator('.opblock', { hasText: '/health' }).first();
      await health.locator('.opblock-summary').click();
      await health.getByRole('button', { name: 'Try it out' }).click();
      const answered = page.waitForResponse((response) =>
        response.url().startsWith(`${stack.url()}/health`),
      );
      await health.getByRole('button', { name: 'Execute' }).click();
      expect((await answered).status()).toBe(200);
      await health
        .locator('.live-responses-table .response-col_status', { hasText: '200' })
        .first()
        .waitFor({ timeout: 10_000 });
    } finally {
      await browser.close();
    }
  });

  it('GET /docs/openapi.yaml is the file as written', async () => {
    const response = await request(`${stack.url()}/docs/openapi.yaml`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/yaml/);
    expect(response.body.toString('utf8')).toBe(
      readFileSync(join(ROOT, 'docs/openapi.yaml'), 'utf8'),
    );
  });

  it('serves swagger-ui-bundle.js from swagger-ui-dist as JavaScript, whole', async () => {
    const file = readFileSync(join(SWAGGER_UI_DIR, 'swagger-ui-bundle.js'));
    const response = await request(`${stack.url()}/docs/assets/swagger-ui-bundle.js`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^(text|application)\/javascript/);
    expect(response.headers['content-length']).toBe(String(file.length));
    expect(response.complete).toBe(true);
    expect(sha256Of(response.body)).toBe(sha256Of(file));
  });

  it('serves the stylesheet as CSS', async () => {
    const response = await request(`${stack.url()}/docs/assets/swagger-ui.css`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/css/);
  });

  it.each([
    '/docs/assets/..%2f..%2fpackage.json',
    '/docs/assets/..%2F..%2F..%2F..%2Fpackage.json',
    '/docs/assets/../../package.json',
    '/docs/assets/../package.json',
    '/docs/assets/%2e%2e/%2e%2e/package.json',
    '/docs/assets/%2e%2e%2f%2e%2e%2fpackage.json',
    '/docs/assets/..%5c..%5cpackage.json',
    '/docs/assets/package.json',
    '/docs/assets/index.html',
    '/docs/assets/swagger-ui-bundle.js%00.png',
    '/docs/assets/%252e%252e%252f%252e%252e%252fpackage.json',
    '/docs/assets/swagger-ui.css%2500',
    '/docs/assets/__proto__',
    '/docs/assets/constructor',
    '/docs/assets/',
  ])('serves nothing else under /docs/assets: %s', async (path) => {
    const response = await rawRequest(stack.url(), path);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    const body = response.body.toString('utf8');
    expect(body).not.toContain('"artifact-cache"');
    expect(body).not.toContain('swagger-ui-dist');
    expect(body).not.toContain('SwaggerUIBundle');
  });

  it('is anonymous even with ADMIN_TOKEN set', async () => {
    for (const path of ['/docs', '/docs/openapi.json', '/docs/assets/swagger-ui.css']) {
      expect({ path, status: (await request(`${stack.url()}${path}`)).status }).toEqual({
        path,
        status: 200,
      });
    }
  });
});
