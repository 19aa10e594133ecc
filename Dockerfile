# One image for every service: SERVICES picks what a container runs (see docker-compose.yml, k8s/).
#   docker build -t trash-bus .
#   docker run -e SERVICES=rest -e TRANSPORTER=nats://nats:4222 -p 3000:3000 trash-bus

# 1. Compile TypeScript to dist/ (dev dependencies, incl. tsc, only live in this stage).
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# what runs: bin/, services/ and what they import (tsconfig.build.json leaves out tests, benches, examples)
RUN npm run build

# 2. Production dependencies only, with no install script run: the only one among them is
#    @scarf/scarf's (pulled by swagger-ui-dist), which reports the install over the network and is
#    denied in package.json's allowScripts too; the `node` devDependency (a Node binary for hosts
#    with an older one) is not installed: the base has Node 24.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# 3. Runtime: compiled JavaScript + production node_modules, owned by root and run as `node`.
FROM node:24-slim
# the flags of `npm start` (package.json): a young generation of 2 × 2 MB instead of V8's default
# of up to 2 × 32 MB, and an old generation sized to the pods' memory limits (k8s/base)
ENV NODE_ENV=production \
    NODE_OPTIONS="--enable-source-maps --max-semi-space-size=2 --max-old-space-size=160" \
    DATA_DIR=/app/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# NeDB files (DATA_DIR) are the only thing the process writes; replicas use DB_URI=postgres://… instead
RUN mkdir -p /app/data && chown node:node /app/data
# numeric (the image's `node` user), so that Kubernetes' runAsNonRoot can verify it
USER 1000:1000
# 3000: the gateway (SERVICES=rest); 3030: Prometheus metrics of every process
EXPOSE 3000 3030
# /health/live for the gateway, /metrics for the other services (they have no other HTTP server):
# see bin/healthcheck.ts
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["node", "dist/bin/healthcheck.js"]
# Node runs as PID 1: the broker handles SIGTERM itself (graceful stop, in-flight requests drained)
CMD ["node", "dist/bin/start.js"]
