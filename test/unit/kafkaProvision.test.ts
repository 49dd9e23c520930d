/**
 * How the tests' Kafka broker is provided (test/support/kafka.ts), with a stand-in `mvn` on PATH:
 * the jars land in .tools/kafka-<version>/libs once, two workers at once leave one copy and no
 * temporary folder, KAFKA_HOME wins, and a failed download says what to do.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ensureKafkaLibs,
  KAFKA_VERSION,
  kafkaClusterId,
  KafkaProvisionError,
  pinnedKafkaLibs,
  serverProperties,
} from '../support/kafka';

/** A `mvn` that "downloads" the broker jar into -DoutputDirectory and counts its runs (or fails like an offline one). */
function fakeMvn(dir: string, behaviour: 'ok' | 'offline'): { env: NodeJS.ProcessEnv; runs: () => number } {
  const bin = path.join(dir, 'bin');
  const count = path.join(dir, 'runs');
  fs.mkdirSync(bin, { recursive: true });
  const body =
    behaviour === 'ok'
      ? `for a in "$@"; do case "$a" in -DoutputDirectory=*) out="\${a#-DoutputDirectory=}";; esac; done
mkdir -p "$out" && : > "$out/kafka_2.13-${KAFKA_VERSION}.jar" && : > "$out/kafka-clients-${KAFKA_VERSION}.jar"`
      : `echo "[ERROR] Failed to execute goal on project kafka-broker: Unknown host repo.maven.apache.org"; exit 1`;
  fs.writeFileSync(path.join(bin, 'mvn'), `#!/bin/sh\necho run >> "${count}"\n${body}\n`, { mode: 0o755 });
  return {
    env: { PATH: `${bin}${path.delimiter}/usr/bin${path.delimiter}/bin` },
    runs: () => (fs.existsSync(count) ? fs.readFileSync(count, 'utf8').trim().split('\n').length : 0),
  };
}

describe('Kafka broker provisioning', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-kafka-prov-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('resolves the jars into .tools once, however many workers ask at the same time', async () => {
    const tools = path.join(tmp, 'tools');
    const mvn = fakeMvn(tmp, 'ok');
    const [a, b] = await Promise.all([ensureKafkaLibs(mvn.env, tools), ensureKafkaLibs(mvn.env, tools)]);
    expect(a).toBe(pinnedKafkaLibs(tools));
    expect(b).toBe(a);
    expect(fs.readdirSync(a)).toContain(`kafka_2.13-${KAFKA_VERSION}.jar`);
    // Only the finished folder is left: no temporary copy beside it.
    expect(fs.readdirSync(tools)).toEqual([`kafka-${KAFKA_VERSION}`]);
    const runs = mvn.runs();
    await ensureKafkaLibs(mvn.env, tools);
    expect(mvn.runs()).toBe(runs);
  });

  it('uses an unpacked Apache Kafka download named by KAFKA_HOME, and says when it is not one', async () => {
    const home = path.join(tmp, `kafka_2.13-${KAFKA_VERSION}`);
    fs.mkdirSync(path.join(home, 'libs'), { recursive: true });
    await expect(ensureKafkaLibs({ KAFKA_HOME: home }, path.join(tmp, 'tools'))).rejects.toThrow(/KAFKA_HOME/);
    fs.writeFileSync(path.join(home, 'libs', `kafka_2.13-${KAFKA_VERSION}.jar`), '');
    await expect(ensureKafkaLibs({ KAFKA_HOME: home }, path.join(tmp, 'tools'))).resolves.toBe(path.join(home, 'libs'));
  });

  it('says what to do when Maven cannot fetch the jars, and leaves nothing half-made', async () => {
    const tools = path.join(tmp, 'tools');
    const mvn = fakeMvn(tmp, 'offline');
    const attempt = ensureKafkaLibs(mvn.env, tools);
    await expect(attempt).rejects.toThrow(KafkaProvisionError);
    await expect(ensureKafkaLibs(mvn.env, tools)).rejects.toThrow(/set KAFKA_HOME[\s\S]*Unknown host/);
    expect(fs.readdirSync(tools)).toEqual([]);
  });

  it('configures one KRaft node, broker and controller, on the given loopback ports', () => {
    const props = serverProperties({ brokerPort: 19092, controllerPort: 19093, dataDir: '/tmp/k' });
    expect(props).toContain('process.roles=broker,controller');
    expect(props).toContain('controller.quorum.voters=1@127.0.0.1:19093');
    expect(props).toContain('listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093');
    expect(props).toContain('log.dirs=/tmp/k');
    const id = kafkaClusterId();
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });
});
