# syntax=docker/dockerfile:1
# Parley server image: the API, the WebSocket gateway and the built web app in one process.
#
#   docker build -t parley:0.1.0 .
#   docker run -p 3000:3000 -e JWT_SECRET=… -e DATABASE_URL=… --read-only --tmpfs /tmp parley:0.1.0
#
# Runs as the unprivileged `node` user, needs no writable path but /tmp and DATA_DIR (/data:
# the embedded database and local media; unused with DATABASE_URL and S3_ENDPOINT), and
# holds no dev dependencies: the server is bundled by scripts/build-server.mjs and its npm
# packages are `npm ci --omit=dev`, pruned to what the bundle imports.
# backend/test/ops/image.test.ts builds this same layout without Docker and runs it.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# --- build: everything installed, Prisma Client generated, web app and server built ---------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY contracts/package.json contracts/
COPY backend/package.json backend/
COPY frontend/package.json frontend/
COPY tools/package.json tools/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN node scripts/prisma-generate.mjs \
 && npm run build -w @parley/frontend \
 && node scripts/build-server.mjs --out /out

# --- deps: the server's production packages only ----------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
COPY contracts/package.json contracts/
COPY backend/package.json backend/
COPY frontend/package.json frontend/
COPY tools/package.json tools/
RUN npm ci --omit=dev --ignore-scripts --workspace @parley/backend --no-audit --no-fund
COPY scripts/prune-node-modules.mjs scripts/
COPY --from=build /out/package.json /out/package.json
RUN node scripts/prune-node-modules.mjs --root /src --manifest /out/package.json

# --- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
# ffmpeg/ffprobe make video posters and voice waveforms (FFMPEG_PATH, FFPROBE_PATH).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
# MALLOC_ARENA_MAX: glibc gives back what libvips (pictures) freed (specs/benchmarks.md).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
# Owned by root and not writable by the server: only /tmp and /data are.
COPY --from=deps /src/node_modules ./node_modules
COPY --from=deps /src/backend/node_modules ./backend/node_modules
COPY --from=build /out ./
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 3000
# Liveness only (GET /health on this node); readiness is /health/ready for the orchestrator.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "backend/dist/healthcheck.js"]
# SIGTERM drains (SHUTDOWN_DRAIN_MS) and exits within SHUTDOWN_TIMEOUT_MS: give it that long.
STOPSIGNAL SIGTERM
CMD ["node", "backend/dist/server.js"]
