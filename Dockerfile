# One image for both halves: `npm run worker` and `npm run api` (see docker-compose.yml).
FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
# Workflows bundled at build time: a worker starts without bundling (npm run build:workflows).
RUN node --import tsx src/start/buildBundle.ts dist/workflow-bundle.js
ENV NODE_ENV=production HOST=0.0.0.0 SWITCHYARD_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
EXPOSE 8080
CMD ["node", "--import", "tsx", "src/main.ts", "api"]
