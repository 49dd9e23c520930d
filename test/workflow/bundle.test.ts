/**
 * The workflow bundle holds only the deterministic code workflows need. Every worker loads it
 * into each workflow isolate, so a stray import (the tokenizer's tables, zod, a database type
 * imported by value) costs memory and start-up time on every worker, and I/O code in it would
 * break determinism. Limit: 2.5 MiB of bundled code (1.8 MB at the time of writing; the
 * tokenizer alone once made it 8.4 MB).
 */
import { builtinModules } from 'node:module';
import { buildWorkflowBundle } from '../../src/start/worker';

const LIMIT_BYTES = 2.5 * 1024 * 1024;

// Packages and folders that must never be reachable from workflows/.
const FORBIDDEN = [
  /node_modules\/(zod|js-tiktoken|pg|pg-[a-z-]+|@electric-sql|express|openai|@anthropic-ai|pino|yaml)\//,
  /node_modules\/@temporalio\/(client|worker|activity|testing)\//,
  /^\.\/(activities|src\/(db|api|services|clients|start|providers))\//,
  /^\.\/src\/(config|logger)\.ts$/,
];

let code: string;
let modules: string[];

beforeAll(async () => {
  code = (await buildWorkflowBundle()).code;
  // webpack names each bundled module in a `!*** <path> ***!` banner.
  modules = [...new Set([...code.matchAll(/!\*\*\* (\S+) \*\*\*!/g)].map((m) => m[1]!))];
});

describe('workflow bundle', () => {
  it('contains our workflows and the domain code they use', () => {
    expect(modules).toEqual(
      expect.arrayContaining([
        './workflows/routeRequest.ts',
        './workflows/providerHealth.ts',
        './workflows/budgetWindow.ts',
        './src/domain/fallback.ts',
      ]),
    );
  });

  it(`is under ${LIMIT_BYTES / 1024 / 1024} MiB`, () => {
    expect(Buffer.byteLength(code)).toBeLessThan(LIMIT_BYTES);
  });

  it('contains no I/O, tokenizer, schema library or Node built-in', () => {
    const forbidden = modules.filter((m) => FORBIDDEN.some((re) => re.test(m)));
    expect(forbidden).toEqual([]);
    const builtins = new Set(builtinModules.flatMap((b) => [b, `node:${b}`]));
    expect(modules.filter((m) => builtins.has(m.replace(/^external "|"$/g, '')))).toEqual([]);
  });
});
