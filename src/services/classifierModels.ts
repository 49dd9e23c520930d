/**
 * Loads the trained prompt classifier's weights (issue 23): models/classifier/<version>.json, by
 * default the version named in models/classifier/CURRENT. Each version is parsed once per process and
 * kept, so replaying an old decision with the version it was made with costs one read.
 *
 * Loaded by the routing activity, never by workflow code (the workflow bundle imports types only).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ClassifierModelSchema, type ClassifierModel } from '../domain/classifier/model';

/** models/classifier under the folder with package.json (the repository, or the image's /app). */
function modelsDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'models', 'classifier');
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '..', '..', 'models', 'classifier');
  }
}

export class UnknownClassifierVersionError extends Error {
  override name = 'UnknownClassifierVersionError';
}

const VERSION = /^clf-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/;
const cache = new Map<string, ClassifierModel>();

/** The versions shipped in models/classifier, sorted. */
export function classifierVersions(dir = modelsDir()): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && VERSION.test(f.slice(0, -5)))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** The version named in models/classifier/CURRENT. */
export function currentClassifierVersion(dir = modelsDir()): string {
  const file = path.join(dir, 'CURRENT');
  if (!fs.existsSync(file)) throw new UnknownClassifierVersionError(`no ${file}: run npm run train:classifier`);
  return fs.readFileSync(file, 'utf8').trim();
}

export function loadClassifierModel(version?: string, dir = modelsDir()): ClassifierModel {
  const wanted = version ?? currentClassifierVersion(dir);
  const cached = cache.get(`${dir}\0${wanted}`);
  if (cached) return cached;
  if (!VERSION.test(wanted) || !classifierVersions(dir).includes(wanted))
    throw new UnknownClassifierVersionError(
      `unknown classifier version "${wanted}": ${dir} has ${classifierVersions(dir).join(', ') || 'none'}`,
    );
  const parsed = ClassifierModelSchema.safeParse(JSON.parse(fs.readFileSync(path.join(dir, `${wanted}.json`), 'utf8')));
  if (!parsed.success) throw new Error(`classifier model ${wanted} is malformed: ${parsed.error.message}`);
  if (parsed.data.version !== wanted)
    throw new Error(`classifier model file ${wanted}.json says it is version ${parsed.data.version}`);
  cache.set(`${dir}\0${wanted}`, parsed.data);
  return parsed.data;
}
