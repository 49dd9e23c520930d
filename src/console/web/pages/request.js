// One request (`#/requests/<id>`): what the record holds, rendered field by field — the
// classification, the decision (candidates with their scores, rejected models with the filter
// and reason), the attempts as a timeline, the timing breakdown, cost, tokens, notes, the link to
// its workflow in the Temporal UI — and "Replay under the current configuration" (admin+).
import {
  api,
  atLeast,
  badge,
  errorText,
  fmt,
  h,
  href,
  notice,
  pageRoot,
  replace,
  section,
  styled,
  table,
} from '../lib.js';

/** The decision fields this page renders itself; any other is shown as JSON. */
const SHOWN = new Set([
  'candidates',
  'rejected',
  'notes',
  'summary',
  'strategy',
  'rule',
  'override',
  'dial',
  'chain',
  'fit',
]);

const kv = (pairs) =>
  h(
    'dl',
    { class: 'kv' },
    pairs
      .filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );

const json = (v) => h('pre', {}, JSON.stringify(v, null, 2));

function classificationView(c) {
  if (!c) return notice('No classification recorded (a cache hit, or a request that never reached routing).');
  const clf = c.classifier || {};
  return [
    kv([
      ['Task type', c.taskType],
      ['Complexity', c.complexity],
      [
        'Confidence',
        [
          clf.taskConfidence !== undefined && `task ${fmt.pct(clf.taskConfidence)}`,
          clf.complexityConfidence !== undefined && `complexity ${fmt.pct(clf.complexityConfidence)}`,
          c.confidence !== undefined && fmt.pct(c.confidence),
        ]
          .filter(Boolean)
          .join(' · '),
      ],
      ['Classifier version', clf.version || 'rules-1'],
      ['Input tokens (estimated)', c.inputTokens !== undefined ? fmt.num(c.inputTokens) : undefined],
      ['Context needed', c.requiredContext !== undefined ? fmt.num(c.requiredContext) : undefined],
      [
        'Complexity probabilities',
        clf.complexityProbs
          ? Object.entries(clf.complexityProbs)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')
          : undefined,
      ],
    ]),
    c.signals && c.signals.length
      ? h(
          'ul',
          { class: 'signals' },
          c.signals.map((s) => h('li', {}, s)),
        )
      : null,
  ];
}

/** Context fitting (issue 26): what was dropped or summarized, to which window, the tokens before and after. */
function fitLine(f) {
  if (f.unfit) return `${f.mode}: not possible: ${f.unfit}`;
  const what =
    f.summarized_messages > 0
      ? `summarized ${f.summarized_messages} earlier messages${f.cached ? ' (cached summary)' : ''}` +
        (f.summary_request_id ? ` by request ${f.summary_request_id}` : '')
      : `dropped ${f.dropped_messages} earlier messages`;
  return (
    `${f.mode}: ${what} to fit ${f.target_model}'s ${fmt.num(f.window)}-token window: ` +
    `${fmt.num(f.tokens_before)} → ${fmt.num(f.tokens_after)} prompt tokens (${fmt.num(f.tokens_saved)} saved)` +
    (f.fallback ? `; summary not used: ${f.fallback}` : '')
  );
}

function decisionView(d) {
  if (!d) return notice('No decision recorded.');
  const extra = Object.fromEntries(Object.entries(d).filter(([k]) => !SHOWN.has(k)));
  return [
    kv([
      ['Summary', d.summary],
      ['Strategy', d.strategy],
      ['Rule', d.rule ? `${d.rule.name || d.rule.id}${d.rule.picked ? ` → ${d.rule.picked}` : ''}` : undefined],
      ['Override', d.override ? `${d.override.id} (${d.override.scope} ${d.override.subject})` : undefined],
      ['Dial', d.dial ? `${d.dial.tier} tier at quality ${d.dial.quality}: ${d.dial.explanation}` : undefined],
      ['Chain', d.chain ? `${d.chain.source}: ${d.chain.models.join(' → ')}` : undefined],
      ['Context fit', d.fit ? fitLine(d.fit) : undefined],
    ]),
    h('h3', {}, 'Candidates'),
    table(
      [
        { label: '#', value: (c) => String(c.i + 1) },
        { label: 'Model', value: (c) => c.modelId },
        { label: 'Step', value: (c) => c.step || '' },
        { label: 'Why (score)', value: (c) => c.reason || '' },
        {
          label: 'Quality tier',
          class: 'num',
          value: (c) => (c.qualityTier === undefined ? '–' : String(c.qualityTier)),
        },
        { label: 'Est. cost', class: 'num', value: (c) => fmt.usd(c.estimatedCostUsd) },
        { label: 'Context', class: 'num', value: (c) => fmt.num(c.contextWindow) },
        { label: 'Path', value: (c) => c.path || '' },
      ],
      (d.candidates || []).map((c, i) => ({ ...c, i })),
      { testid: 'candidates', rowTestid: () => 'candidate', empty: 'No candidate: nothing could serve it.' },
    ),
    h('h3', {}, 'Rejected models'),
    table(
      [
        { label: 'Model', value: (r) => r.modelId },
        { label: 'Filter', value: (r) => r.filter },
        {
          label: 'Reason',
          value: (r) =>
            r.reason +
            (r.contextWindow ? ` (window ${fmt.num(r.contextWindow)}, needs ${fmt.num(r.neededTokens)})` : ''),
        },
      ],
      [...(d.rejected || []), ...((d.chain && d.chain.skipped) || [])],
      { testid: 'rejected', rowTestid: () => 'rejected-model', empty: 'No model was rejected.' },
    ),
    Object.keys(extra).length ? h('details', {}, h('summary', {}, 'Other decision fields'), json(extra)) : null,
  ];
}

/** The attempts as bars on one time axis: placed by started_at, as wide as their latency. */
function timelineView(r) {
  const attempts = r.attempts || [];
  if (!attempts.length)
    return notice(r.cache_hit ? `Answered from the cache (${r.cached_from || ''}).` : 'No attempt.');
  const t0 = Date.parse(r.created_at);
  const end = Math.max(
    r.completed_at ? Date.parse(r.completed_at) : 0,
    ...attempts.map((a) => Date.parse(a.startedAt) + (a.latencyMs || 0)),
  );
  const total = Math.max(1, end - t0);
  const pct = (ms) => `${Math.max(0, Math.min(100, (ms / total) * 100)).toFixed(2)}%`;
  return h(
    'div',
    { class: 'timeline attempts', dataset: { testid: 'attempts' } },
    attempts.map((a) => {
      const failed = a.outcome !== 'success';
      const start = Date.parse(a.startedAt) - t0;
      const bar = styled(h('div', { class: `span${failed ? ' failed' : ''}`, title: a.outcome }), {
        marginLeft: pct(start),
        width: pct(a.latencyMs || 0),
      });
      return h(
        'div',
        { class: `attempt${failed ? ' failed' : ''}`, dataset: { testid: 'attempt', outcome: a.outcome } },
        h(
          'div',
          { class: 'attempt-head' },
          h('strong', {}, `${a.provider}/${a.model}`),
          ` candidate ${a.candidateIndex + 1}, attempt ${a.attempt} · `,
          badge(a.outcome),
          ` · starts +${fmt.ms(start)}, ${fmt.ms(a.latencyMs)}`,
          a.queuedMs ? ` (queued ${fmt.ms(a.queuedMs)})` : '',
          a.costUsd !== undefined ? ` · ${fmt.usd(a.costUsd)}` : '',
          a.inputTokens !== undefined ? ` · ${fmt.num(a.inputTokens)} / ${fmt.num(a.outputTokens)} tokens` : '',
        ),
        h('div', { class: 'track' }, bar),
        failed && (a.errorType || a.errorMessage)
          ? h(
              'div',
              { class: 'attempt-error' },
              `${a.errorType || 'error'}${a.status ? ` (HTTP ${a.status})` : ''}: ${a.errorMessage || ''}`,
            )
          : null,
      );
    }),
    h('div', { class: 'muted' }, `Axis: 0 – ${fmt.ms(total)} from the request's arrival.`),
  );
}

function timingView(t) {
  if (!t) return notice('Not finished yet.');
  return h(
    'div',
    { class: 'tiles', dataset: { testid: 'timing' } },
    Object.entries(t).map(([k, v]) =>
      h(
        'div',
        { class: 'tile' },
        h('div', { class: 'v' }, typeof v === 'number' ? fmt.ms(v) : JSON.stringify(v)),
        h('div', { class: 'k' }, k),
      ),
    ),
  );
}

/** The recorded first choice next to the replayed one. */
function replayView(r, report) {
  const recorded = (r.decision && r.decision.candidates && r.decision.candidates[0]) || null;
  const change = (report.examples || []).find((e) => e.requestId === r.request_id);
  const before = recorded ? recorded.modelId : null;
  const after = change ? change.after : report.unroutable ? null : before;
  return h(
    'div',
    { dataset: { testid: 'replay-result', changed: String(Boolean(change)) } },
    table(
      [
        { label: '', value: (x) => x.k },
        { label: 'Recorded (config v' + r.config_version + ')', value: (x) => x.a },
        { label: `Current configuration (v${report.current_config_version})`, value: (x) => x.b },
      ],
      [
        { k: 'First model', a: before || '–', b: after || 'unroutable (would be a 503)' },
        {
          k: 'Estimated cost',
          a: fmt.usd(change ? change.costBeforeUsd : recorded && recorded.estimatedCostUsd),
          b: fmt.usd(change ? change.costAfterUsd : recorded && recorded.estimatedCostUsd),
        },
        ...(change ? [{ k: 'Regions', a: change.regionsBefore.join(', '), b: change.regionsAfter.join(', ') }] : []),
      ],
    ),
    report.evaluated === 0
      ? notice('This request has no recorded decision input to replay.', 'info')
      : notice(
          change
            ? 'The current configuration routes it differently.'
            : 'The current configuration makes the same choice.',
          change ? 'info' : 'ok',
        ),
  );
}

export async function renderRequest(root, ctx, id) {
  let r;
  try {
    r = await api(`/v1/requests/${encodeURIComponent(id)}`);
  } catch (err) {
    const text = err.status === 404 ? `No request ${id} (or not one this key may see).` : errorText(err);
    replace(
      root,
      pageRoot(
        'request',
        'Request',
        h('p', { class: 'notice error', role: 'alert', dataset: { testid: 'request-missing' } }, text),
        h('a', { href: '#/requests' }, '← Requests'),
      ),
    );
    return;
  }
  const replayOut = h('div');
  const replayButton =
    atLeast('admin') &&
    h(
      'button',
      {
        type: 'button',
        dataset: { testid: 'replay' },
        onclick: async () => {
          replace(replayOut, h('p', { class: 'muted' }, 'Replaying…'));
          try {
            const report = await api('/v1/policy/replay', {
              method: 'POST',
              body: { requestId: r.request_id, limit: 1, ...(atLeast('operator') && { tenantId: r.tenant_id }) },
            });
            replace(replayOut, replayView(r, report));
          } catch (err) {
            replace(replayOut, notice(errorText(err), 'error'));
          }
        },
      },
      'Replay under the current configuration',
    );

  replace(
    root,
    pageRoot(
      'request',
      `Request ${r.request_id}`,
      h('p', {}, h('a', { href: '#/requests' }, '← Requests')),
      h(
        'div',
        { class: 'tiles', dataset: { testid: 'request-summary' } },
        [
          ['Status', badge(r.status, { dataset: { testid: 'request-status' } })],
          ['Model', r.model || r.requested_model],
          ['Tenant', r.tenant_id],
          ['Operation', r.operation],
          ['Cost', fmt.usd(r.cost_usd)],
          ['Tokens (in / out)', r.usage ? `${fmt.num(r.usage.input_tokens)} / ${fmt.num(r.usage.output_tokens)}` : '–'],
          ['Latency', r.cache_hit ? 'cache hit' : fmt.ms(r.latency_ms)],
          ['Created', fmt.time(r.created_at)],
        ].map(([k, v]) => h('div', { class: 'tile' }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k))),
      ),
      section(
        'Record',
        kv([
          ['Workflow', r.workflow_id || '(none: answered from the cache)'],
          [
            'Temporal UI',
            r.links && r.links.temporal_ui
              ? h(
                  'a',
                  {
                    href: r.links.temporal_ui,
                    target: '_blank',
                    rel: 'noopener',
                    dataset: { testid: 'temporal-link' },
                  },
                  'Open its workflow',
                )
              : undefined,
          ],
          ['Requested model', r.requested_model],
          ['User', r.user],
          ['Batch', r.batch_id ? h('a', { href: href('batches', r.batch_id) }, r.batch_id) : undefined],
          ['Config version', r.config_version !== null ? String(r.config_version) : undefined],
          ['Completed', r.completed_at ? fmt.time(r.completed_at) : undefined],
          ['Error', r.error ? JSON.stringify(r.error) : undefined],
        ]),
      ),
      section(
        'Classification',
        h('div', { dataset: { testid: 'classification' } }, classificationView(r.classification)),
      ),
      section('Decision', decisionView(r.decision)),
      section('Attempts', timelineView(r)),
      section('Timing', timingView(r.timing_ms)),
      section(
        'Notes',
        r.notes && r.notes.length
          ? h(
              'ul',
              { dataset: { testid: 'notes' } },
              r.notes.map((n) => h('li', {}, n)),
            )
          : h('p', { class: 'muted' }, 'None.'),
      ),
      replayButton &&
        section(
          'Replay',
          h(
            'p',
            { class: 'muted' },
            'Decides this request again from its recorded input under the configuration in force now; nothing is called.',
          ),
          replayButton,
          replayOut,
        ),
      r.response ? section('Answer', h('details', {}, h('summary', {}, 'The stored answer'), json(r.response))) : null,
    ),
  );
}
