// ESLint (flat config): typescript-eslint with type information, the Temporal samples' workflow
// rules, and the import boundaries of ARCHITECTURE.md. Formatting is Prettier's (eslint-config-prettier
// turns off the rules that would disagree with it).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createNodeResolver, flatConfigs as importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

// Packages that do I/O or read the environment: never in workflow code (Temporal replays it).
const IO_PACKAGES = [
  'pg',
  '@electric-sql/pglite',
  'openai',
  '@anthropic-ai/sdk',
  'express',
  'pino',
  'yaml',
  'js-tiktoken',
  'js-tiktoken/*',
  'zod',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
  '@temporalio/testing',
];

// What may import what: each zone forbids `target` from importing `from`.
const LAYERS = {
  domain: 'src/domain',
  db: 'src/db',
  providers: 'src/providers',
  temporal: 'src/temporal',
  services: 'src/services',
  clients: 'src/clients',
  api: 'src/api',
  start: 'src/start',
  activities: 'activities',
  workflows: 'workflows',
  cli: 'src/cli',
};
const zone = (target, from, why) => ({ target: LAYERS[target], from: from.map((f) => LAYERS[f]), message: why });
const ZONES = [
  zone(
    'domain',
    ['db', 'providers', 'temporal', 'services', 'clients', 'api', 'start', 'activities', 'workflows'],
    'src/domain is pure logic: it imports nothing but itself and libraries.',
  ),
  zone(
    'db',
    ['providers', 'services', 'clients', 'api', 'start', 'activities', 'workflows'],
    'src/db knows tables, not the layers above it.',
  ),
  zone(
    'providers',
    ['db', 'services', 'clients', 'api', 'start', 'activities', 'workflows'],
    'src/providers adapts SDKs; it knows nothing above it.',
  ),
  zone(
    'services',
    ['clients', 'api', 'start', 'activities', 'workflows'],
    'src/services is shared by the API and the activities: it must not depend on either, nor on workflow code.',
  ),
  zone(
    'activities',
    ['clients', 'api', 'start', 'workflows'],
    'activities reach breakers through the HealthPort, never through workflow code or its clients.',
  ),
  zone('clients', ['api', 'start', 'activities'], 'src/clients wraps our workflows for the processes that call them.'),
  zone('api', ['start', 'activities'], 'the API starts workflows; it never runs activities.'),
  zone(
    'cli',
    ['db', 'providers', 'temporal', 'services', 'clients', 'api', 'start', 'activities', 'workflows'],
    'src/cli is a client of the HTTP API, as a user script would be: it reaches nothing else.',
  ),
];

// Workflow code may take types from anywhere, values only from the domain and Temporal's names.
const WORKFLOW_VALUE_IMPORTS_BANNED = {
  paths: IO_PACKAGES.filter((p) => !p.includes('*')).map((name) => ({
    name,
    message: 'I/O, clocks and heavy libraries stay out of workflow code: use an activity.',
  })),
  patterns: [
    { group: ['js-tiktoken/*'], message: 'The tokenizer belongs in an activity.' },
    {
      group: ['**/activities', '**/activities/**'],
      allowTypeImports: true,
      message: 'Workflows import activity types only (`import type`), then proxyActivities<typeof activities>.',
    },
    {
      group: [
        '**/src/db',
        '**/src/db/**',
        '**/src/services/**',
        '**/src/clients/**',
        '**/src/api/**',
        '**/src/providers/**',
        '**/src/start/**',
        '**/src/config',
        '**/src/logger',
      ],
      allowTypeImports: true,
      message: 'Workflow code takes values only from src/domain and src/temporal (pure, deterministic).',
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', '.tools/', 'dist/', 'coverage/', 'jest.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  importX.typescript,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json', '.node'] })] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: ZONES }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // TypeScript checks these better.
      'import-x/named': 'off',
      'import-x/namespace': 'off',
      'import-x/default': 'off',
      'import-x/no-named-as-default-member': 'off',
      'import-x/no-unresolved': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'import-x/no-nodejs-modules': 'error',
      '@typescript-eslint/no-restricted-imports': ['error', WORKFLOW_VALUE_IMPORTS_BANNED],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use sleep() or condition() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use sleep() in a loop.' },
        { name: 'process', message: 'Workflow code cannot read the environment.' },
        { name: 'fetch', message: 'I/O belongs in an activity.' },
      ],
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      // Pure: no I/O, no environment (time and seeds are passed in).
      'import-x/no-nodejs-modules': 'error',
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'src/domain is pure: take it as an argument.' },
        { name: 'fetch', message: 'src/domain is pure.' },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  prettier,
  // The console's pages: plain ES modules run by the browser, outside the TypeScript project.
  {
    files: ['src/console/web/**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { sourceType: 'module', parserOptions: { projectService: false } },
    rules: { 'no-undef': 'off', 'import-x/no-unresolved': 'off' },
  },
);
