# syntax=docker/dockerfile:1
# One image for both apps; the command picks which one runs:
#   node dist/apps/gateway/src/main.js   (default; PORT, 8080)
#   node dist/apps/fetcher/src/main.js   (FETCHER_PORT, 8081)
# docker-compose.yml runs two of each. Configuration is the environment (README, SPEC §3) and the
# remotes file at /app/config/remotes.yaml (mount your own read-only).

ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: every dependency (swc, types), then the apps -----------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY .swcrc nest-cli.json tsconfig.json tsconfig.build.json ./
COPY apps ./apps
COPY libs ./libs
RUN npm run build

# --- production dependencies only ----------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund

# --- runtime --------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# package.json: the version that GET / reports (and how the gateway finds docs/openapi.yaml,
# which it serves at /docs). .data: the fs driver's default root (single node
# only). /var/spool/artifactcache: where fetchers spool in-flight downloads (TMPDIR in compose); a
# volume mounted there starts out owned by `node` because the directory already is.
RUN mkdir -p /app/.data /var/spool/artifactcache \
  && chown node:node /app/.data /var/spool/artifactcache
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY docs/openapi.yaml ./docs/openapi.yaml
COPY config/remotes.yaml ./config/remotes.yaml
USER node
EXPOSE 8080 8081
# No HEALTHCHECK here: the port depends on the app. docker-compose.yml checks GET /health of each.
# The command line of `npm run start:gateway` (a spec checks); why these Node flags:
# docs/PERFORMANCE.md#settings.
CMD ["node", "--max-semi-space-size=16", "--initial-old-space-size=128", "dist/apps/gateway/src/main.js"]
