import { ConfigError } from '../../src/config';
import { NON_RETRYABLE_TYPES } from '../../src/domain/failures';
import path from 'node:path';
import { callPolicyFor, DEFAULT_SETTINGS } from '../../src/domain/settings';
import { configSource, parseConfigText } from '../../src/services/configFile';
import { validateConfig } from '../../src/services/configStore';
import { defaultCatalog } from '../../src/domain/catalog';

const shipped = () => defaultCatalog({ simulated: true });
const parseSettings = (text: string, source: string) => validateConfig(parseConfigText(text, source, shipped));

describe('routing settings', () => {
  it('merges retry policy: defaults ← file default ← provider ← model', () => {
    const s = parseSettings(
      `retry:\n  default: { maximumAttempts: 4 }\n  providers:\n    openai: { timeoutMs: 5000, nonRetryable: [RateLimited] }\n  models:\n    openai/gpt-4o: { maximumAttempts: 1 }\n`,
      'switchyard.yaml',
    );
    expect(callPolicyFor(s, 'anthropic', 'anthropic/x')).toMatchObject({ maximumAttempts: 4, timeoutMs: 60_000 });
    const mini = callPolicyFor(s, 'openai', 'openai/gpt-4o-mini');
    expect(mini).toMatchObject({ maximumAttempts: 4, timeoutMs: 5000 });
    expect(mini.nonRetryableTypes).toEqual(expect.arrayContaining([...NON_RETRYABLE_TYPES, 'RateLimited']));
    expect(callPolicyFor(s, 'openai', 'openai/gpt-4o').maximumAttempts).toBe(1);
  });

  it('defaults when no file is given (a content filter is propagated, not failed over)', () => {
    expect(DEFAULT_SETTINGS.fallback).toEqual({ onContentFilter: false, maxEscalations: 2, maxCandidates: 3 });
  });

  it('reports bad values with their path in the file', () => {
    expect(() => parseSettings('{"retry": {"default": {"maximumAttempts": 0}}}', 'c.json')).toThrow(
      /retry\.default\.maximumAttempts/,
    );
    expect(() => parseSettings('{"fallback": {"onContentFilter": "sometimes"}}', 'c.json')).toThrow(ConfigError);
    expect(() => parseSettings('{"retry": {"default": {"nonRetryable": ["Sometimes"]}}}', 'c.json')).toThrow(
      /nonRetryable/,
    );
    expect(() => parseSettings('retry: [', 'c.yaml')).toThrow(/not valid YAML/);
    expect(() => parseSettings('{"unknown": 1}', 'c.json')).toThrow(/Unrecognized key/);
  });
});

describe('the shipped example configuration', () => {
  it('parses and means what it says', () => {
    const s = validateConfig(
      configSource(path.join(__dirname, '..', '..', 'config', 'switchyard.example.yaml'), shipped).read(),
    );
    expect(callPolicyFor(s, 'anthropic', 'anthropic/claude-sonnet-4-5').timeoutMs).toBe(90_000);
    expect(callPolicyFor(s, 'openai', 'openai/gpt-4o').maximumAttempts).toBe(2);
    expect(s.fallback).toEqual(DEFAULT_SETTINGS.fallback);
  });
});
