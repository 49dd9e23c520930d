/**
 * Template rendering, pure: mustache syntax with no HTML escaping, absent variables reported,
 * no code run from a template (no lambdas, no prototype lookups), partials and syntax errors
 * refused with the message's path, schema defaults filled in, parameter paths of variables.
 */
import {
  checkTemplateMessages,
  parseTemplateText,
  renderMessages,
  variablesParam,
  withDefaults,
  type TemplateMessage,
} from '../../src/domain/templates';

const render = (content: string, variables: Record<string, unknown>) => {
  const r = renderMessages([{ role: 'user', content }], variables);
  if ('tooLarge' in r) return { tooLarge: r.tooLarge };
  return 'missing' in r ? { missing: r.missing } : r.messages[0]!.content;
};

describe('renderMessages', () => {
  it('fills variables without HTML escaping', () => {
    expect(
      render('Hello {{name}} & <{{tag}}> {{{raw}}} {{&amp}}', { name: 'O\'Brien "x"', tag: 'b', raw: '<i>', amp: '&' }),
    ).toBe('Hello O\'Brien "x" & <b> <i> &');
  });

  it('dotted names, sections over arrays and objects, inverted sections, comments', () => {
    const out = render(
      '{{! a comment }}{{user.name}}:{{#items}} [{{title}}/{{user.name}}]{{/items}}{{^empty}} none{{/empty}}{{#flag}} on{{/flag}}',
      {
        user: { name: 'ann' },
        items: [{ title: 'a' }, { title: 'b' }],
        empty: [],
        flag: true,
      },
    );
    expect(out).toBe('ann: [a/ann] [b/ann] none on');
  });

  it('numbers, booleans and null print; objects print as JSON', () => {
    expect(render('{{n}} {{b}} [{{z}}] {{o}}', { n: 3.5, b: false, z: null, o: { a: [1] } })).toBe(
      '3.5 false [] {"a":[1]}',
    );
  });

  it('reports every absent variable once; a section over an absent name is false, not missing', () => {
    expect(render('{{a}} {{b.c}} {{a}} {{#opt}}x{{/opt}}{{^opt}}y{{/opt}}', { b: {} })).toEqual({
      missing: ['a', 'b.c'],
    });
    expect(render('{{#opt}}x{{/opt}}{{^opt}}y{{/opt}}', {})).toBe('y');
  });

  it('runs no code: prototype properties are absent, function-looking input is plain data', () => {
    // With mustache's own renderer these would call Object, Function and toString.
    expect(render('{{constructor}}{{toString}}{{__proto__}}', {})).toEqual({
      missing: ['constructor', 'toString', '__proto__'],
    });
    expect(render('{{#constructor.constructor}}alert(1){{/constructor.constructor}}ok', {})).toBe('ok');
    expect(render('{{#items.constructor}}x{{/items.constructor}}{{items.length}}', { items: [1, 2] })).toBe('2');
    // A "lambda" sent as variables is JSON: an object, rendered as a section's context.
    expect(render('{{#lambda}}{{text}}|{{/lambda}}', { lambda: { text: 'plain' } })).toBe('plain|');
    expect(render('{{#lambda}}<{{.}}>{{/lambda}}', { lambda: 'function () { return 1 }' })).toBe(
      '<function () { return 1 }>',
    );
  });

  it('stops a render that would multiply past its limits (nested sections over arrays)', () => {
    const a = Array.from({ length: 100 }, (_, i) => i);
    // 100^4 steps with no output at all, and 100^2 × 200 characters: both bounded, both refused.
    expect(render('{{#a}}{{#a}}{{#a}}{{#a}}{{/a}}{{/a}}{{/a}}{{/a}}', { a })).toEqual({
      tooLarge: expect.stringContaining('steps'),
    });
    expect(render('{{#a}}{{#a}}{{s}}{{/a}}{{/a}}', { a, s: 'x'.repeat(200) })).toEqual({
      tooLarge: expect.stringContaining('characters'),
    });
    expect(render('{{big}}', { big: 'x'.repeat(1_000_001) })).toEqual({ tooLarge: expect.any(String) });
    expect(render('{{#a}}{{#a}}x{{/a}}{{/a}}', { a })).toBe('x'.repeat(10_000));
  });

  it('keeps roles and renders each message', () => {
    const messages: TemplateMessage[] = [
      { role: 'system', content: 'You answer in {{lang}}.' },
      { role: 'user', content: '{{q}}' },
    ];
    expect(renderMessages(messages, { lang: 'French', q: 'Why?' })).toEqual({
      messages: [
        { role: 'system', content: 'You answer in French.' },
        { role: 'user', content: 'Why?' },
      ],
    });
  });
});

describe('checkTemplateMessages', () => {
  it('refuses partials and syntax errors, naming the message', () => {
    expect(checkTemplateMessages([{ role: 'user', content: 'ok {{a}}' }])).toBeUndefined();
    expect(
      checkTemplateMessages([
        { role: 'system', content: 'fine' },
        { role: 'user', content: 'x {{> other}}' },
      ]),
    ).toEqual({ path: 'messages[1].content', message: expect.stringContaining('partials are not supported') });
    expect(checkTemplateMessages([{ role: 'user', content: '{{#open}} never closed' }])).toEqual({
      path: 'messages[0].content',
      message: expect.stringContaining('Unclosed section "open"'),
    });
    expect(checkTemplateMessages([{ role: 'user', content: 'x {{a' }])?.message).toMatch(/Unclosed tag/);
    // A partial inside a section is found too.
    expect('error' in parseTemplateText('{{#s}}{{>p}}{{/s}}')).toBe(true);
  });
});

describe('withDefaults and variablesParam', () => {
  const schema = {
    type: 'object',
    properties: {
      lang: { type: 'string', default: 'English' },
      opts: { type: 'object', properties: { tone: { type: 'string', default: 'plain' } }, default: {} },
      q: { type: 'string' },
    },
  };

  it('fills absent properties from the schema, nested ones too, and leaves the input alone', () => {
    const given = { q: 'hi' };
    expect(withDefaults(schema, given)).toEqual({ q: 'hi', lang: 'English', opts: { tone: 'plain' } });
    expect(given).toEqual({ q: 'hi' });
    expect(withDefaults(schema, { lang: 'French', opts: { tone: 'dry' } })).toEqual({
      lang: 'French',
      opts: { tone: 'dry' },
    });
  });

  it('spells paths as parameters', () => {
    expect(variablesParam([])).toBe('variables');
    expect(variablesParam(['user', 'name'])).toBe('variables.user.name');
    expect(variablesParam(['items', '0', 'title'])).toBe('variables.items[0].title');
  });
});
