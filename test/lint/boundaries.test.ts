/**
 * The import boundaries of ARCHITECTURE.md are enforced by ESLint (`npm test` lints first). These
 * cases lint small probe files placed (virtually) in each layer, against the project's own
 * configuration, so a rule that stops firing fails here.
 */
import path from 'node:path';
import { ESLint, type Linter } from 'eslint';

const ROOT = path.resolve(__dirname, '..', '..');

// The probes are not in tsconfig: lint them without type information (the typed rules are
// checked on the real tree by `npm run lint`).
const untyped: Linter.Config = {
  languageOptions: { parserOptions: { projectService: false, project: false } },
  rules: {
    '@typescript-eslint/no-floating-promises': 'off',
    '@typescript-eslint/no-misused-promises': 'off',
    '@typescript-eslint/await-thenable': 'off',
  },
};

let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: ROOT, overrideConfig: untyped });
});

async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('import boundaries', () => {
  it('src/domain may not import from src/db', async () => {
    const found = await problems('src/domain/probe.ts', "import { openDb } from '../db';\nexport const f = openDb;\n");
    expect(found).toEqual([expect.stringMatching(/^import-x\/no-restricted-paths: .*src\/domain is pure/)]);
  });

  it('src/cli may not import from src/db (it is a client of the HTTP API)', async () => {
    const found = await problems('src/cli/probe.ts', "import { openDb } from '../db';\nexport const f = openDb;\n");
    expect(found).toEqual([expect.stringMatching(/^import-x\/no-restricted-paths: .*src\/cli is a client/)]);
  });

  it('src/domain may not import from src/api, not even a type', async () => {
    const found = await problems(
      'src/domain/probe.ts',
      "import type { ApiDeps } from '../api/app';\nexport type D = ApiDeps;\n",
    );
    expect(found).toEqual([expect.stringMatching(/^import-x\/no-restricted-paths:/)]);
  });

  it('workflows may not import a value from activities', async () => {
    const found = await problems(
      'workflows/probe.ts',
      "import { createActivities } from '../activities';\nexport const f = createActivities;\n",
    );
    expect(found).toEqual([expect.stringMatching(/^@typescript-eslint\/no-restricted-imports: .*activity types only/)]);
  });

  it('workflows may import activity types', async () => {
    expect(
      await problems(
        'workflows/probe.ts',
        "import type { Activities } from '../activities';\nexport type A = Activities;\n",
      ),
    ).toEqual([]);
  });

  it('workflows may not import Node built-ins or I/O packages', async () => {
    const found = await problems(
      'workflows/probe.ts',
      "import fs from 'node:fs';\nimport { Pool } from 'pg';\nexport const f = [fs, Pool];\n",
    );
    expect(found).toEqual([
      expect.stringMatching(/^import-x\/no-nodejs-modules:/),
      expect.stringMatching(/^@typescript-eslint\/no-restricted-imports: .*'pg'/),
    ]);
  });

  it('activities may not import workflow code or its clients', async () => {
    const found = await problems(
      'activities/probe.ts',
      "import { HealthClient } from '../src/clients/providerHealth';\nexport const f = HealthClient;\n",
    );
    expect(found).toEqual([expect.stringMatching(/^import-x\/no-restricted-paths: .*HealthPort/)]);
  });

  it('the real tree follows its own rules (the layer it is in decides)', async () => {
    // A domain file importing its own layer is fine: the rule is not simply "no imports".
    expect(
      await problems('src/domain/probe.ts', "import { roundUsd } from './usd';\nexport const f = roundUsd;\n"),
    ).toEqual([]);
  });
});
