import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classTables, houseItems } from '../../scripts/classifier/buildCorpus';
import { COMPLEXITIES, TASK_TYPES, parseCsv, sample, scriptLang } from '../../scripts/classifier/sources';

describe('classifier corpus: house prompts', () => {
  const items = houseItems();

  it('has at least 2,400 prompts from at least 20 style files', () => {
    expect(items.length).toBeGreaterThanOrEqual(2400);
    expect(new Set(items.map((i) => i.source)).size).toBeGreaterThanOrEqual(20);
  });

  it('covers every taskType × complexity cell with at least 40 prompts', () => {
    for (const t of TASK_TYPES) {
      for (const c of COMPLEXITIES) {
        const n = items.filter((i) => i.taskType === t && i.complexity === c).length;
        expect({ cell: `${t}/${c}`, enough: n >= 40 }).toEqual({ cell: `${t}/${c}`, enough: true });
      }
    }
  });

  it('has at least 8 languages with 40+ prompts each', () => {
    const byLang = new Map<string, number>();
    for (const i of items) byLang.set(i.lang, (byLang.get(i.lang) ?? 0) + 1);
    expect([...byLang.values()].filter((n) => n >= 40).length).toBeGreaterThanOrEqual(8);
  });

  it('gives every item the corpus format with an id unique within its source', () => {
    const keys = ['complexity', 'id', 'labelEvidence', 'lang', 'source', 'taskType', 'text'];
    for (const i of items) expect(Object.keys(i).sort()).toEqual(keys);
    // Duplicate texts inside one file would share an id; across files the build drops them.
    const ids = items.map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('rejects a house file with an unknown label', () => {
    const dir = mkdtempSync(join(tmpdir(), 'house-'));
    try {
      writeFileSync(
        join(dir, 'house-bad.jsonl'),
        JSON.stringify({ text: 'hi', taskType: 'poetry', complexity: 'simple', lang: 'en' }) + '\n',
      );
      expect(() => houseItems(dir)).toThrow(/house-bad.jsonl:1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints a class table whose total is the item count', () => {
    const table = classTables(items);
    expect(table).toContain(`total`);
    expect(table).toMatch(new RegExp(`\\b${items.length}\\b`));
  });
});

describe('classifier corpus: helpers', () => {
  it('samples deterministically, keeping input order', () => {
    const xs = Array.from({ length: 50 }, (_, i) => `item-${i}`);
    const a = sample(xs, 10, (x) => x);
    expect(a).toHaveLength(10);
    expect(sample(xs, 10, (x) => x)).toEqual(a);
    expect([...a].sort((p, q) => xs.indexOf(p) - xs.indexOf(q))).toEqual(a);
  });

  it('parses quoted CSV fields with commas, quotes and newlines', () => {
    expect(parseCsv('id,q\n1,"a, ""b""\nc"\n2,plain\n')).toEqual([
      ['id', 'q'],
      ['1', 'a, "b"\nc'],
      ['2', 'plain'],
    ]);
  });

  it('guesses zh, ja, ko and en from the script', () => {
    expect(scriptLang('请帮我写一个论文大纲')).toBe('zh');
    expect(scriptLang('これは日本語の文章です')).toBe('ja');
    expect(scriptLang('이것은 한국어 문장입니다')).toBe('ko');
    expect(scriptLang('Please write an outline')).toBe('en');
  });
});
