# One image for both halves: `node dist/src/main.js worker` and `... api` (see docker-compose.yml).
# Node 22 (LTS) in both stages; the tests run on Node 20 as well. Every production dependency's
# `engines` admits both (test/e2e/deploy.test.ts checks the lockfile), and the only native code,
# Temporal's core bridge, is a Node-API addon, not tied to one Node version.
# Build stage: the locked dependencies, the compiled code and the workflow bundle (`npm run build`).
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY models ./models
COPY proto ./proto
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run stage: JavaScript only, as the unprivileged `node` user.
FROM node:22-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 SWITCHYARD_DATA_DIR=/data SWITCHYARD_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The trained prompt classifier's weights, read by the worker (src/services/classifierModels.ts).
COPY --from=build /app/models ./models
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080 8081
CMD ["node", "dist/src/main.js", "api"]
