# One image for both halves: `npm run worker` and `npm run api` (see docker-compose.yml).
FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
ENV NODE_ENV=production HOST=0.0.0.0
EXPOSE 8080
CMD ["node", "--import", "tsx", "src/main.ts", "api"]
