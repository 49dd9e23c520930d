/**
 * Which classifier the router uses (src/services/classifiers.ts): the current trained model (the
 * keyword rules when none is installed), a named version, or `rules-1`; and what it reads of a
 * stored request.
 */
import { RULES_VERSION } from '../../src/domain/classify';
import { classifierVersions } from '../../src/services/classifierModels';
import {
  classifierFor,
  classifyInputOf,
  classifyStored,
  currentVersion,
  UnknownClassifierVersionError,
} from '../../src/services/classifiers';

it('rules-1 is the keyword rules; an unknown version is an error that names it', () => {
  expect(classifierFor(RULES_VERSION)).toBeUndefined();
  expect(() => classifierFor('clf-2000-01-01-deadbeef')).toThrow(UnknownClassifierVersionError);
  expect(() => classifierFor('clf-2000-01-01-deadbeef')).toThrow(/clf-2000-01-01-deadbeef/);
});

it('current is the installed model (or the rules without one), and a named version classifies as itself', () => {
  const versions = classifierVersions();
  if (versions.length === 0) {
    expect(currentVersion()).toBe(RULES_VERSION);
    return;
  }
  expect(versions).toContain(currentVersion());
  for (const v of versions) {
    const c = classifyStored('chat', { model: 'auto', messages: [{ role: 'user', content: 'hi' }] }, classifierFor(v));
    expect(c.classifier?.version).toBe(v);
  }
});

it('reads the same text and output cap of a stored request as the activity always did', () => {
  expect(
    classifyInputOf('chat', { model: 'auto', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] }),
  ).toEqual({ messages: [{ role: 'user', content: 'hello' }], maxOutputTokens: 50 });
  expect(classifyInputOf('embed', { model: 'auto', input: ['a', 'b'] })).toEqual({
    messages: [{ role: 'user', content: 'a\nb' }],
    maxOutputTokens: 0,
  });
  const op = classifyInputOf('sentiment', { text: 'I loved it' });
  expect(op.maxOutputTokens).toBeUndefined();
  expect(op.messages.at(-1)).toEqual({ role: 'user', content: 'I loved it' });
  // An operation keeps its declared task type whatever classifies it.
  expect(classifyStored('sentiment', { text: 'I loved it' }, classifierFor()).taskType).toBe('analysis');
});
