import { createHash } from 'node:crypto';

/** Where the page, the document and the Swagger UI files are served (DocsController). */
const DOCS_ROUTES = {
  page: '/docs',
  json: '/docs/openapi.json',
  yaml: '/docs/openapi.yaml',
  assets: '/docs/assets',
} as const;

// No `url` query parameter support, no validator badge (validatorUrl: null, else Swagger UI
// loads an image from validator.swagger.io): the page talks to this gateway only.
const INITIALIZER = `window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(DOCS_ROUTES.json)},
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  queryConfigEnabled: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});`;

/**
 * The page allows scripts and styles from this origin only, plus the one inline initializer by
 * its hash; connections (the document, "Try it out") go to this origin only. Swagger UI sets
 * inline styles and uses data: images for its icons.
 */
export const DOCS_PAGE_CSP = [
  "default-src 'none'",
  `script-src 'self' 'sha256-${createHash('sha256').update(INITIALIZER).digest('base64')}'`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const DOCS_PAGE_HTML = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>artifact-cache API</title>
    <link rel="stylesheet" href="${DOCS_ROUTES.assets}/swagger-ui.css">
    <link rel="icon" type="image/png" href="${DOCS_ROUTES.assets}/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="${DOCS_ROUTES.assets}/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <noscript>Swagger UI needs JavaScript. The document itself: <a href="${DOCS_ROUTES.yaml}">${DOCS_ROUTES.yaml}</a>, <a href="${DOCS_ROUTES.json}">${DOCS_ROUTES.json}</a>.</noscript>
    <script src="${DOCS_ROUTES.assets}/swagger-ui-bundle.js"></script>
    <script>${INITIALIZER}</script>
  </body>
</html>
`;
