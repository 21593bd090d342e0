# TradPal infrastructure host: one image for every plugin.
#   docker build -t tradpal/infrastructure .
#   docker run -p 8000-8013:8000-8013 tradpal/infrastructure                 # every plugin in one process
#   docker run -p 8009:8009 tradpal/infrastructure --only security           # one plugin per container
# deploy/README.md has Compose and Kubernetes; test/deploy.test.ts replays these steps without Docker.
ARG BUN_VERSION=1.4

# Stage 1: production dependencies only, exactly as locked (a stale bun.lock fails the build here).
FROM oven/bun:${BUN_VERSION} AS deps
WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production

# Stage 2: the runtime. Source is root-owned and read-only to the process; only /data is its to write.
FROM oven/bun:${BUN_VERSION}
WORKDIR /app
ENV NODE_ENV=production DATA_DIR=/data
# Freed memory is kept for reuse, not returned to the kernel after every GC (as `bun run start` does; README "Memory").
ENV MIMALLOC_PURGE_DELAY=-1
COPY --from=deps /app/node_modules ./node_modules
COPY package.json bun.lock bunfig.toml tsconfig.json config.yaml ./
COPY src ./src
COPY plugins ./plugins
COPY falco ./falco
COPY deploy/healthcheck.ts ./deploy/healthcheck.ts
# The base image's non-root user "bun" (uid 1000) owns the data dir; a named volume mounted there
# starts as a copy of it, ownership included.
RUN mkdir -p /data && chown bun:bun /data
USER bun
VOLUME ["/data"]
# The seed's ports (gateway, security, events, breaker) and the Falco intake.
EXPOSE 8000 8009 8011 8012 8013
# Probes /health on whichever ports this container hosts (it reads the --only given to the entrypoint).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["bun", "deploy/healthcheck.ts"]
# Exec form: bun is PID 1 and gets SIGTERM directly (graceful drain, exit 0).
ENTRYPOINT ["bun", "run", "src/main.ts"]
# Arguments go to the host: --only gateway, --config /etc/tradpal/config.yaml, --check.
CMD []
