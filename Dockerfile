# One image, every plugin: run all with the default command, or one per container with --only.
FROM oven/bun:1 AS deps
WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production

FROM oven/bun:1
WORKDIR /app
ENV NODE_ENV=production DATA_DIR=/data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json bunfig.toml tsconfig.json config.yaml ./
COPY src ./src
COPY plugins ./plugins
COPY falco ./falco
VOLUME ["/data"]
EXPOSE 8000 8009 8011 8012 8013
HEALTHCHECK --interval=30s --timeout=3s CMD bun -e "fetch('http://127.0.0.1:'+(process.env.API_GATEWAY_PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
USER bun
ENTRYPOINT ["bun", "run", "src/main.ts"]
# e.g. docker run image --only gateway
CMD []
