/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Workflow and end-to-end tests start Temporal servers: give them room, and keep to the 2 cores.
  testTimeout: 120_000,
  maxWorkers: 2,
  // A real Kafka broker's jars come from Maven Central, which this project's machines do not reach:
  // `npm run test:kafka` runs those tests where a broker can be had (KAFKA_HOME, or Maven Central).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/kafka/'],
};
