/**
 * The README and docs/ link to each other by relative paths and heading anchors; a section moved
 * or renamed breaks them silently on GitHub. This checks every relative link's file and anchor
 * (anchors as GitHub derives them from headings), that the examples call the API on one port (the
 * quick start's default), and that the README still gives the exact test command `.ci/run` runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';

const ROOT = path.resolve(__dirname, '..', '..');
const DOC_FILES = [
  ...fs.readdirSync(ROOT).filter((f) => f.endsWith('.md')),
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The file's lines outside fenced code blocks (a fence may be indented, inside a list item). */
function proseLines(text: string): Array<{ line: string; n: number }> {
  const out: Array<{ line: string; n: number }> = [];
  let fence: string | undefined;
  text.split('\n').forEach((line, i) => {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m) {
      if (fence === undefined) fence = m[1]![0];
      else if (m[1]![0] === fence) fence = undefined;
      return;
    }
    if (fence === undefined) out.push({ line, n: i + 1 });
  });
  return out;
}

/** GitHub's anchor for a heading: rendered text, lower case, punctuation dropped, each space a hyphen. */
function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

const anchorCache = new Map<string, Set<string>>();
function anchorsOf(file: string): Set<string> {
  let anchors = anchorCache.get(file);
  if (!anchors) {
    anchors = new Set();
    const seen = new Map<string, number>();
    for (const { line } of proseLines(fs.readFileSync(file, 'utf8'))) {
      const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      if (!m) continue;
      const base = slug(m[1]!);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      anchors.add(count === 0 ? base : `${base}-${count}`);
    }
    anchorCache.set(file, anchors);
  }
  return anchors;
}

interface Link {
  file: string;
  n: number;
  target: string;
}

function relativeLinks(file: string): Link[] {
  const links: Link[] = [];
  for (const { line, n } of proseLines(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
    // Inline code is not a link (`[a](b)` in backticks is an example).
    const prose = line.replace(/`[^`]*`/g, '``');
    for (const m of prose.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      links.push({ file, n, target });
    }
  }
  return links;
}

describe('README and docs/', () => {
  it('has the pages the README points to, and a README of about a page', () => {
    for (const page of ['api', 'configuration', 'operations', 'production', 'development']) {
      expect(DOC_FILES).toContain(`docs/${page}.md`);
    }
    const lines = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n').length;
    // About a page, plus one short section for the five doors of issue 26 (gRPC, templates, fitting, events, traces).
    expect(lines).toBeLessThanOrEqual(320);
  });

  it.each(DOC_FILES)('%s: every relative link names a file that exists, and an anchor it has', (file) => {
    const broken: string[] = [];
    for (const link of relativeLinks(file)) {
      const [rel, anchor] = link.target.split('#', 2) as [string, string | undefined];
      const target = rel === '' ? path.join(ROOT, file) : path.resolve(ROOT, path.dirname(file), decodeURI(rel));
      if (!fs.existsSync(target)) {
        broken.push(`${file}:${link.n}: ${link.target}: no such file`);
      } else if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(target).has(anchor)) {
        broken.push(`${file}:${link.n}: ${link.target}: no heading with anchor #${anchor}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('calls the API on one port in every example: the quick start default', () => {
    const port = String(loadConfig({}).PORT);
    const others: string[] = [];
    for (const file of DOC_FILES.filter((f) => f === 'README.md' || f.startsWith('docs/'))) {
      fs.readFileSync(path.join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // A model server's own port (a provider's `baseUrl`, the table of OpenAI-compatible servers) is not the API's.
          if (line.includes('baseUrl') || line.startsWith('|')) return;
          // The API's URLs (`…:PORT/v1`) and `PORT=` settings.
          for (const m of line.matchAll(/(?:127\.0\.0\.1|localhost):(\d+)\/v1\b|\bPORT=(\d+)/g)) {
            const found = m[1] ?? m[2];
            if (found !== port) others.push(`${file}:${i + 1}: ${m[0]}`);
          }
        });
    }
    expect(others).toEqual([]);
  });

  it('gives the exact test command .ci/run runs', () => {
    const ci = fs
      .readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8')
      .trim()
      .split('\n');
    const command = ci.at(-1)!.trim();
    expect(command).toBe('npm install && npm test');
    expect(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toContain(`\n${command}`);
  });
});
