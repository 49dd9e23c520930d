/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Workflow and end-to-end tests start Temporal servers: give them room, and keep to the 2 cores.
  testTimeout: 120_000,
  maxWorkers: 2,
};
