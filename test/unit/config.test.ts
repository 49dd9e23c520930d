import path from 'node:path';
import { ConfigError, loadConfig, simulatedProviderEnabled } from '../../src/config';

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
