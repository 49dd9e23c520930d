/**
 * `npm run batch`: submit a summarization batch and follow it with a live progress bar.
 *
 *   npm run batch -- docs.jsonl [--out results.jsonl] [--max-words 80] [--style key_points]
 *   npm run batch -- ./folder          (every .txt/.md file is one document, named by its path)
 *   npm run batch -- --attach <batchId> [--out results.jsonl]
 *   npm run batch -- --cancel <batchId>
 *
 * Talks to the HTTP API only: SWITCHYARD_URL (default http://127.0.0.1:8080) and SWITCHYARD_KEY
 * (default: the bootstrap key `npm start` keeps in .data/). Ctrl-C leaves the batch running and
 * prints commands that come back to it with the same URL (the key by its variable, never its value).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';

interface BatchView {
  id: string;
  status: string;
  status_reason: string | null;
  counts: { total: number; done: number; failed: number; pending: number };
  cost_usd: number;
  eta_seconds: number | null;
  started_at: string | null;
  results_url: string;
}

const FINISHED = new Set(['completed', 'cancelled', 'failed']);
const POLL_MS = 1_000;
const DEFAULT_URL = 'http://127.0.0.1:8080';

/** A word as a POSIX shell reads it back unchanged. */
const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * The environment a printed command needs to reach the same Switchyard as this run: the URL always
 * (a new shell may not have it), the key only by name (it came from SWITCHYARD_KEY: `"$SWITCHYARD_KEY"`
 * passes it on, also when it is an unexported shell variable), the data dir when the key came from it.
 */
function envPrefix(url: string): string {
  const parts = [`SWITCHYARD_URL=${shellWord(url)}`];
  if (process.env.SWITCHYARD_KEY) parts.push('SWITCHYARD_KEY="$SWITCHYARD_KEY"');
  else if (process.env.SWITCHYARD_DATA_DIR)
    parts.push(`SWITCHYARD_DATA_DIR=${shellWord(process.env.SWITCHYARD_DATA_DIR)}`);
  return parts.join(' ');
}

const command = (url: string, args: string) => `${envPrefix(url)} npm run batch -- ${args}`;

/** The batch this run follows, once submitted or found: a lost connection says how to come back. */
let following: { id: string; url: string } | undefined;

function usage(): never {
  console.error(
    [
      'usage: npm run batch -- <docs.jsonl | folder> [--out results.jsonl] [--max-words N] [--style abstract|key_points]',
      '                         [--model auto|<id>] [--concurrency N] [--no-tty]',
      '       npm run batch -- --attach <batchId> [--out results.jsonl]',
      '       npm run batch -- --cancel <batchId>',
      'environment: SWITCHYARD_URL (default http://127.0.0.1:8080), SWITCHYARD_KEY',
    ].join('\n'),
  );
  process.exit(2);
}

function apiKey(): string {
  if (process.env.SWITCHYARD_KEY) return process.env.SWITCHYARD_KEY;
  const dir = process.env.SWITCHYARD_DATA_DIR ?? path.join(__dirname, '..', '..', '.data');
  const file = path.join(dir, 'bootstrap-api-key');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  console.error('Set SWITCHYARD_KEY to an API key (npm start prints one on its first start).');
  process.exit(2);
}

/** A document id from a file's path: printable, no spaces or slashes (ids name workflows). */
const idOfPath = (rel: string) => rel.replace(/[^\x21-\x2e\x30-\x7e]/g, '_').slice(0, 128);

function* folderDocuments(root: string): Generator<string> {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (/\.(txt|md)$/i.test(e.name)) files.push(full);
    }
  };
  walk(root);
  const seen = new Set<string>();
  for (const f of files) {
    let id = idOfPath(path.relative(root, f));
    for (let n = 2; seen.has(id); n++) id = `${idOfPath(path.relative(root, f))}-${n}`;
    seen.add(id);
    yield `${JSON.stringify({ id, text: fs.readFileSync(f, 'utf8') })}\n`;
  }
}

/** An answer of the API that is not a success: its status and error object. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly error: { code?: string; [k: string]: unknown } | undefined,
  ) {
    super(`${status}: ${message}`);
  }
}

/** Switchyard could not be reached at all (refused, unknown host, reset...). */
class NetworkError extends Error {}

/** What a failed fetch's cause says: `connect ECONNREFUSED 127.0.0.1:8080`, `getaddrinfo ENOTFOUND host`. */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: { message?: string; code?: string; errors?: Array<{ message?: string }> } }).cause;
  if (!cause) return (err as Error).message;
  // A host with several addresses fails with an AggregateError: its message is empty, its errors say why.
  const detail = cause.message || cause.errors?.map((e) => e.message).join('; ') || '';
  if (cause.code && !detail.includes(cause.code)) return detail ? `${cause.code}: ${detail}` : cause.code;
  return detail || (err as Error).message;
}

/** fetch, with a failure to connect that names the URL, the cause and where the URL came from. */
async function reach(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const from = process.env.SWITCHYARD_URL
      ? `SWITCHYARD_URL is ${process.env.SWITCHYARD_URL}`
      : `SWITCHYARD_URL is not set: the default ${DEFAULT_URL}`;
    throw new NetworkError(`cannot reach Switchyard at ${url} (${causeOf(err)}). Is it running? ${from}.`);
  }
}

class Api {
  constructor(
    readonly base: string,
    readonly key: string,
  ) {}

  /** The server's URL, as SWITCHYARD_URL gives it (no `/v1`). */
  get url(): string {
    return this.base.replace(/\/v1$/, '');
  }

  async call<T>(method: string, p: string, init: { body?: ReadableStream; contentType?: string } = {}): Promise<T> {
    const res = await reach(`${this.base}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${this.key}`,
        ...(init.contentType && { 'content-type': init.contentType }),
      },
      body: init.body,
      // Stream the upload (Node's fetch needs this for a streamed body).
      ...(init.body instanceof ReadableStream && { duplex: 'half' }),
    } as RequestInit);
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      let error: ApiError['error'];
      try {
        error = (JSON.parse(text) as { error: { message: string } }).error;
        message = (error as { message: string }).message;
      } catch {
        // not JSON
      }
      throw new ApiError(res.status, message, error);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

/** Streams the results (JSONL) into a file; returns how many lines it wrote. */
async function writeResults(api: Api, view: BatchView, out: string): Promise<number> {
  const url = `${api.url}${view.results_url}`;
  const res = await reach(url, { headers: { authorization: `Bearer ${api.key}` } });
  // 202: not finished (the caller asks only once it has; said plainly should it ever happen).
  if (res.status !== 200 || !res.body) throw new Error(`results: HTTP ${res.status} from ${url}: ${await res.text()}`);
  let lines = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      for (const b of chunk) if (b === 10) lines++;
      done(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(res.body as WebReadableStream), counter, fs.createWriteStream(out));
  return lines;
}

function describe(v: BatchView, withStatus = true): string {
  const status = withStatus ? `, ${v.status}${v.status_reason ? ` (${v.status_reason})` : ''}` : '';
  return `${v.counts.done}/${v.counts.total} done, ${v.counts.failed} failed, $${v.cost_usd.toFixed(6)}${status}`;
}

/** Follows the batch until it finishes; Ctrl-C leaves it running and says how to come back. */
async function follow(api: Api, id: string, tty: boolean): Promise<BatchView> {
  let stop = false;
  let wake: (() => void) | undefined;
  const onInt = () => {
    stop = true;
    wake?.();
  };
  process.on('SIGINT', onInt);
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format:
            '{bar} {percentage}% | {value}/{total} done | {failed} failed | {rate}/min | ${cost} | {status} | ETA {eta_s}',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let view = await api.call<BatchView>('GET', `/operations/summarize/batches/${id}`);
  bar?.start(view.counts.total, 0, { failed: 0, rate: '0', cost: '0', status: view.status, eta_s: '?' });
  let last = '';
  while (!stop) {
    view = await api.call<BatchView>('GET', `/operations/summarize/batches/${id}`);
    const finished = view.counts.done + view.counts.failed;
    const minutes = view.started_at ? (Date.now() - Date.parse(view.started_at)) / 60_000 : 0;
    const rate = minutes > 0 ? (finished / minutes).toFixed(1) : '0';
    if (bar) {
      bar.update(view.counts.done, {
        failed: view.counts.failed,
        rate,
        cost: view.cost_usd.toFixed(6),
        status: view.status + (view.status_reason ? `: ${view.status_reason}` : ''),
        eta_s: FINISHED.has(view.status) ? '0s' : view.eta_seconds === null ? '?' : `${view.eta_seconds}s`,
      });
    } else {
      const line = `progress: ${describe(view)}, ${rate} docs/min`;
      if (line !== last) console.log(line);
      last = line;
    }
    if (FINISHED.has(view.status)) break;
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, POLL_MS);
    });
  }
  bar?.stop();
  process.off('SIGINT', onInt);
  if (stop && !FINISHED.has(view.status)) {
    console.log(`\nLeft batch ${id} running (${describe(view)}).`);
    console.log(`Re-attach:  ${command(api.url, `--attach ${id}`)}`);
    console.log(`Cancel:     ${command(api.url, `--cancel ${id}`)}`);
    process.exit(130);
  }
  return view;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      attach: { type: 'string' },
      cancel: { type: 'string' },
      'max-words': { type: 'string' },
      style: { type: 'string' },
      model: { type: 'string' },
      concurrency: { type: 'string' },
      'no-tty': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) usage();
  const base = `${(process.env.SWITCHYARD_URL ?? DEFAULT_URL).replace(/\/+$/, '')}/v1`;
  const api = new Api(base, apiKey());
  const tty = !values['no-tty'] && process.stdout.isTTY === true;

  if (values.cancel) {
    try {
      const v = await api.call<BatchView>('POST', `/operations/summarize/batches/${values.cancel}/cancel`);
      console.log(`Cancelled batch ${v.id}: no new call starts; ${describe(v)}.`);
    } catch (err) {
      // A batch that ended on its own was not cancelled: say so. Exit 0 all the same: nothing of it
      // runs any more, which is what a cancel asks for.
      const finished = err instanceof ApiError && err.error?.code === 'batch_already_finished';
      if (!finished) throw err;
      const v = err.error!.batch as BatchView;
      console.log(`Batch ${v.id} had already finished (${v.status}): ${describe(v, false)}; nothing to cancel.`);
      console.log(`Results: GET ${api.url}${v.results_url}`);
    }
    return;
  }

  let id = values.attach;
  if (!id) {
    const source = positionals[0];
    if (!source || positionals.length > 1) usage();
    if (!fs.existsSync(source)) throw new Error(`${source}: no such file or folder`);
    const query = new URLSearchParams();
    if (values['max-words']) query.set('maxWords', values['max-words']);
    if (values.style) query.set('style', values.style);
    if (values.model) query.set('model', values.model);
    if (values.concurrency) query.set('concurrency', values.concurrency);
    const body = fs.statSync(source).isDirectory()
      ? Readable.from(folderDocuments(source))
      : fs.createReadStream(source);
    const created = await api.call<BatchView>('POST', `/operations/summarize/batches?${query}`, {
      body: Readable.toWeb(body) as ReadableStream,
      contentType: 'application/x-ndjson',
    });
    id = created.id;
    following = { id, url: api.url };
    console.log(`Submitted batch ${id}: ${created.counts.total} documents.`);
  } else {
    const found = await api.call<BatchView>('GET', `/operations/summarize/batches/${id}`);
    console.log(`Attached to batch ${found.id}: ${describe(found)}.`);
    following = { id, url: api.url };
  }

  const view = await follow(api, id, tty);
  console.log(`Batch ${id} ${view.status}: ${describe(view, false)}.`);
  console.log(`Results: GET ${api.url}${view.results_url}`);
  if (values.out) {
    const n = await writeResults(api, view, values.out);
    console.log(`Wrote ${n} results to ${values.out}`);
  }
  if (view.status === 'failed') process.exit(1);
}

main().catch((err: unknown) => {
  console.error(`error: ${(err as Error).message}`);
  if (err instanceof NetworkError && following)
    console.error(
      `Batch ${following.id} may still be running. Re-attach:  ${command(following.url, `--attach ${following.id}`)}`,
    );
  process.exit(1);
});
