import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, simulatedProviderEnabled } from '../../src/config';
import { fileNamesProviders } from '../../src/services/configFile';

describe('config', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(8080);
    expect(c.TEMPORAL_DEV_PORT).toBe(7233);
    expect(c.TEMPORAL_UI_PORT).toBe(8233);
    expect(c.SWITCHYARD_DATA_DIR).toBe(path.resolve(__dirname, '..', '..', '.data'));
    expect(c.TEMPORAL_ADDRESS).toBeUndefined();
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ PORT: 'eighty', OPENAI_BASE_URL: 'not a url' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'eighty', OPENAI_BASE_URL: 'not a url' });
    } catch (e) {
      expect((e as Error).message).toMatch(/PORT/);
      expect((e as Error).message).toMatch(/OPENAI_BASE_URL/);
    }
  });

  it("bounds a background response's deadline: 15 minutes by default, at most a day", () => {
    expect(loadConfig({}).SWITCHYARD_BACKGROUND_TIMEOUT_MS).toBe(900_000);
    expect(loadConfig({ SWITCHYARD_BACKGROUND_TIMEOUT_MS: '3600000' }).SWITCHYARD_BACKGROUND_TIMEOUT_MS).toBe(
      3_600_000,
    );
    for (const bad of ['0', '-1', '1.5', '86400001', 'soon'])
      expect(() => loadConfig({ SWITCHYARD_BACKGROUND_TIMEOUT_MS: bad })).toThrow(/SWITCHYARD_BACKGROUND_TIMEOUT_MS/);
  });

  it("bounds a tenant's background responses in flight: 64 by default, a positive integer", () => {
    expect(loadConfig({}).SWITCHYARD_MAX_BACKGROUND_PER_TENANT).toBe(64);
    expect(loadConfig({ SWITCHYARD_MAX_BACKGROUND_PER_TENANT: '5' }).SWITCHYARD_MAX_BACKGROUND_PER_TENANT).toBe(5);
    for (const bad of ['0', '-1', '1.5', '100001', 'many'])
      expect(() => loadConfig({ SWITCHYARD_MAX_BACKGROUND_PER_TENANT: bad })).toThrow(
        /SWITCHYARD_MAX_BACKGROUND_PER_TENANT/,
      );
  });

  it('rejects a short bootstrap key', () => {
    expect(() => loadConfig({ SWITCHYARD_BOOTSTRAP_KEY: 'short' })).toThrow(/SWITCHYARD_BOOTSTRAP_KEY/);
  });

  it('serves the simulator only when no real key is set, unless forced', () => {
    expect(simulatedProviderEnabled(loadConfig({}))).toBe(true);
    expect(simulatedProviderEnabled(loadConfig({ OPENAI_API_KEY: 'sk-x' }))).toBe(false);
    expect(simulatedProviderEnabled(loadConfig({ ANTHROPIC_API_KEY: 'k', SWITCHYARD_SIMULATED_PROVIDER: 'on' }))).toBe(
      true,
    );
    expect(simulatedProviderEnabled(loadConfig({ SWITCHYARD_SIMULATED_PROVIDER: 'off' }))).toBe(false);
  });
});

describe('the simulator beside a configuration file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-cfg-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };

  it('a file naming providers of its own is a real catalog; one without, or only the simulator, is not', () => {
    expect(
      fileNamesProviders(file('own.yaml', 'catalog:\n  providers:\n    - { id: v, kind: openai-compatible }\n')),
    ).toBe(true);
    expect(fileNamesProviders(file('budget.yaml', 'tenants:\n  default:\n    budget: { dailyUsd: 1 }\n'))).toBe(false);
    expect(fileNamesProviders(file('sim.json', '{"catalog":{"providers":[{"id":"s","simulated":true}]}}'))).toBe(false);
    expect(fileNamesProviders(file('bad.yaml', 'catalog: [\n'))).toBe(false);
    expect(fileNamesProviders(undefined)).toBe(false);
    // A key set in the environment turns the simulator off whatever the file says.
    expect(simulatedProviderEnabled(loadConfig({ HF_TOKEN: 'hf_x' }))).toBe(false);
    expect(simulatedProviderEnabled(loadConfig({ AWS_REGION: 'eu-west-1', AWS_PROFILE: 'p' }))).toBe(false);
    expect(simulatedProviderEnabled(loadConfig({ AWS_REGION: 'eu-west-1' }))).toBe(true);
  });
});
