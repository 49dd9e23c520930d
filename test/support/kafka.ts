/**
 * A real Apache Kafka broker for the tests, run the way a user runs one: the broker's jars from
 * Maven Central, `kafka-storage format` (kafka.tools.StorageTool) on a fresh log directory, then
 * `kafka-server-start server.properties` (kafka.Kafka) as one KRaft node that is both broker and
 * controller, on 127.0.0.1 and free ports, with a small heap.
 *
 * The jars: KAFKA_HOME (an unpacked Apache Kafka download: its libs/ is used) → the pinned copy in
 * .tools/kafka-<version>/libs → `mvn dependency:copy-dependencies` of test/support/kafka/pom.xml
 * into that folder, once, through a temporary folder renamed into place (two jest workers at once
 * both download; the first rename wins, the second finds it there and drops its own).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify, stripVTControlCharacters } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { TOOLS_DIR } from '../../src/temporal/binaries';
import { WATCHDOG } from '../../src/temporal/devServer';
import { freePort } from './process';

/** Keep in step with kafka.version in test/support/kafka/pom.xml (passed to mvn, so this one wins). */
export const KAFKA_VERSION = '4.4.0';
const POM = path.join(__dirname, 'kafka', 'pom.xml');
const run = promisify(execFile);

/** The JVM as bin/kafka-server-start.sh would run it with KAFKA_HEAP_OPTS=-Xmx256m: small and quick to start. */
const JVM_OPTS = ['-Xms64m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true'];

export class KafkaProvisionError extends Error {
  override name = 'KafkaProvisionError';
}

const hasBroker = (libs: string) =>
  fs.existsSync(libs) && fs.readdirSync(libs).some((f) => /^kafka_2\.13-.*\.jar$/.test(f) && !f.includes('-test'));

export function pinnedKafkaLibs(toolsDir = TOOLS_DIR, version = KAFKA_VERSION): string {
  return path.join(toolsDir, `kafka-${version}`, 'libs');
}

/** The folder of the broker's jars, resolving them from Maven Central on first use (see the file's comment). */
export async function ensureKafkaLibs(env: NodeJS.ProcessEnv = process.env, toolsDir = TOOLS_DIR): Promise<string> {
  if (env.KAFKA_HOME) {
    const libs = path.join(env.KAFKA_HOME, 'libs');
    if (!hasBroker(libs)) throw new KafkaProvisionError(`KAFKA_HOME=${env.KAFKA_HOME} has no libs/kafka_2.13-*.jar.`);
    return libs;
  }
  const libs = pinnedKafkaLibs(toolsDir);
  if (hasBroker(libs)) return libs;
  const final = path.dirname(libs);
  fs.mkdirSync(toolsDir, { recursive: true });
  const tmp = path.join(toolsDir, `.kafka-${KAFKA_VERSION}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await run(
      'mvn',
      [
        '-B',
        '-q',
        '-Dstyle.color=never',
        '-f',
        POM,
        `-Dkafka.version=${KAFKA_VERSION}`,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${path.join(tmp, 'libs')}`,
      ],
      { env, maxBuffer: 16 << 20, timeout: 15 * 60_000 },
    );
    if (!hasBroker(path.join(tmp, 'libs'))) throw new Error('mvn finished without kafka_2.13 among the jars');
    try {
      fs.renameSync(tmp, final);
    } catch (err) {
      // Another worker renamed its copy into place first: use that one.
      if (!hasBroker(libs)) throw err;
    }
    return libs;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    // Maven's first error line says why (e.g. an unknown host); the rest is its advice on flags.
    const lines = stripVTControlCharacters([e.stdout, e.stderr, e.message].join('\n')).split('\n');
    const detail = lines.find((l) => /\[ERROR\] \S/.test(l)) ?? lines.find((l) => l.trim()) ?? String(err);
    throw new KafkaProvisionError(
      `Could not provide Apache Kafka ${KAFKA_VERSION}'s broker jars. Tried KAFKA_HOME, ${libs}, and ` +
        `'mvn dependency:copy-dependencies' of ${POM} (needs Maven and Maven Central). Alternatively unpack ` +
        `the Apache Kafka ${KAFKA_VERSION} download and set KAFKA_HOME to it.\nCause: ${detail}`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** A cluster id as `kafka-storage random-uuid` prints one: 16 random bytes, base64url, never starting with '-'. */
export function kafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** One KRaft node, broker and controller at once (the quickstart's config/server.properties, trimmed). */
export function serverProperties(o: { brokerPort: number; controllerPort: number; dataDir: string }): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${o.controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${o.brokerPort},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${o.brokerPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${o.dataDir}`,
    'num.partitions=3',
    // One node: every internal topic has one replica.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // A consumer group of one need not wait 3 s for others to join.
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

function log4j2Properties(logFile: string): string {
  return [
    'status = error',
    'appender.file.type = File',
    'appender.file.name = file',
    `appender.file.fileName = ${logFile}`,
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = INFO',
    'rootLogger.appenderRef.file.ref = file',
    '',
  ].join('\n');
}

export interface KafkaBroker {
  /** host:port of the broker listener, as clients take them. */
  brokers: string[];
  /** The broker's own log (server.log) and the JVM's output (jvm.log) are in here. */
  dir: string;
  /** Milliseconds the last start took: format (first start only) + JVM start + first metadata answer. */
  startMs: number;
  /** Stops the JVM (SIGTERM, a controlled shutdown), keeping its data and ports for `restart`. */
  halt(): Promise<void>;
  /** Starts it again on the same ports and data. */
  restart(): Promise<void>;
  /** Stops the JVM and removes its data. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 15_000;
const READY_MS = 120_000;

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Whether the broker answers a metadata request (a kafkajs admin's describeCluster). */
async function answers(brokers: string[]): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'kafka-probe',
    brokers,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function startKafka(): Promise<KafkaBroker> {
  const libs = await ensureKafkaLibs();
  const java = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const classpath = `${libs}${path.sep}*`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-kafka-'));
  const [brokerPort, controllerPort] = [await freePort(), await freePort()];
  const props = path.join(dir, 'server.properties');
  const logConfig = path.join(dir, 'log4j2.properties');
  const jvmLog = path.join(dir, 'jvm.log');
  fs.writeFileSync(props, serverProperties({ brokerPort, controllerPort, dataDir: path.join(dir, 'data') }));
  fs.writeFileSync(logConfig, log4j2Properties(path.join(dir, 'server.log')));
  const jvm = [...JVM_OPTS, `-Dlog4j2.configurationFile=${logConfig}`, '-cp', classpath];
  const brokers = [`127.0.0.1:${brokerPort}`];

  const formatStarted = Date.now();
  // kafka-storage.sh format -t <cluster id> -c server.properties
  await run(java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', kafkaClusterId(), '-c', props], {
    maxBuffer: 4 << 20,
  }).catch((err: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`kafka-storage format failed:\n${err.stdout ?? ''}${err.stderr ?? ''}${err.message}`);
  });
  const formatMs = Date.now() - formatStarted;

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let running = false;
  const killGroup = (signal: NodeJS.Signals) => {
    if (child?.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  // Whatever way this process ends, the JVM ends with it (the watchdog also stops it when our pipe closes).
  const onExit = () => killGroup('SIGKILL');
  process.on('exit', onExit);

  const launch = async () => {
    const started = Date.now();
    const out = fs.openSync(jvmLog, 'a');
    // kafka-server-start.sh server.properties, under the dev server's watchdog.
    const c = spawn(process.execPath, ['-e', WATCHDOG, java, ...jvm, 'kafka.Kafka', props], {
      // stdin: the pipe the watchdog watches; fd 3: where it writes the JVM's pid (unused here).
      stdio: ['pipe', out, out, 'pipe'],
      detached: true,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    fs.closeSync(out);
    c.stdin!.on('error', () => undefined);
    for (const stream of [c.stdin, c.stdio[3]]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    child = c;
    running = true;
    exited = new Promise<void>((resolve) =>
      c.once('exit', () => {
        running = false;
        resolve();
      }),
    );
    const deadline = Date.now() + READY_MS;
    while (!(await answers(brokers))) {
      if (!running) {
        throw new Error(
          `Kafka exited before it answered (${dir}):\n${tail(jvmLog)}\n${tail(path.join(dir, 'server.log'))}`,
        );
      }
      if (Date.now() > deadline) {
        killGroup('SIGKILL');
        throw new Error(
          `Kafka did not answer on ${brokers[0]} within ${READY_MS / 1000} s:\n${tail(path.join(dir, 'server.log'))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return Date.now() - started;
  };

  const halt = async () => {
    if (!running) return;
    killGroup('SIGTERM');
    const timer = setTimeout(() => killGroup('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    killGroup('SIGKILL'); // nothing of the group outlives the watchdog
  };

  const broker: KafkaBroker = {
    brokers,
    dir,
    startMs: 0,
    halt,
    async restart() {
      await halt();
      broker.startMs = await launch();
    },
    async stop() {
      await halt();
      process.off('exit', onExit);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    broker.startMs = formatMs + (await launch());
  } catch (err) {
    await broker.stop();
    throw err;
  }
  return broker;
}
