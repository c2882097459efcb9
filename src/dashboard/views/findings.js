// Findings: host and fleet findings newest first, filtered by severity, check, host and state;
// each opens to its summary, evidence lines (monospace, with the command and line number), why,
// the fix, first seen / resolved, and acknowledge or silence.
import { ApiError, getJson, sendJson, sources } from '../api.js';
import { errorBox, findingHref, h, hostHref, kernelBadge, mount, pathHref, severityBadge, stateBadge, when } from '../dom.js';

const FILTERS = ['severity', 'check', 'host', 'state'];
const CHOICES = { severity: ['error', 'warning', 'info'], state: ['open', 'resolved', 'acknowledged', 'silenced'] };

/** Newest first: by when it was first seen (a resolved one by when it resolved). */
function newestFirst(a, b) {
  return Date.parse(b.resolvedAt ?? b.firstSeen) - Date.parse(a.resolvedAt ?? a.firstSeen);
}

function filterBar(params, checks) {
  const apply = () => {
    const q = new URLSearchParams();
    for (const f of FILTERS) {
      const v = document.getElementById(`filter-${f}`).value.trim();
      if (v) q.set(f, v);
    }
    location.hash = `#/findings${q.size ? `?${q}` : ''}`;
  };
  const select = (name, values) => h('select', { id: `filter-${name}`, 'aria-label': name, onchange: apply },
    h('option', { value: '' }, `any ${name}`), values.map((v) => h('option', { value: v, selected: params.get(name) === v }, v)));
  return h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); apply(); } },
    h('h1', {}, 'Findings'), select('severity', CHOICES.severity), select('check', checks), select('state', CHOICES.state),
    h('input', { id: 'filter-host', type: 'search', placeholder: 'host', value: params.get('host') ?? '', 'aria-label': 'host', onchange: apply }));
}

function findingRow(s) {
  const f = s.finding;
  return h('tr', { class: `finding-row state-${s.state}`, dataset: { key: f.key, check: f.check, host: f.host } },
    h('td', {}, severityBadge(f.severity)),
    h('td', {}, stateBadge(s.state)),
    h('td', {}, h('a', { href: hostHref(f.host) }, f.host)),
    h('td', { class: 'mono' }, f.check),
    h('td', { class: 'kernel-cell' }, kernelBadge(f.kernel)),
    h('td', {}, h('a', { class: 'summary', href: findingHref(f.key) }, f.summary)),
    h('td', {}, s.resolvedAt ? ['resolved ', when(s.resolvedAt)] : when(s.firstSeen)));
}

export async function renderFindings(main, params) {
  const q = new URLSearchParams();
  for (const f of FILTERS) if (params.get(f)) q.set(f, params.get(f));
  const [{ findings }, all] = await Promise.all([getJson(`/api/findings?${q}`), getJson('/api/findings')]);
  const checks = [...new Set(all.findings.map((s) => s.finding.check))].sort();
  findings.sort(newestFirst);
  mount(main, filterBar(params, checks),
    findings.length === 0 ? h('p', { class: 'empty' }, 'No findings match.') : h('table', { class: 'grid findings', id: 'findings' },
      h('thead', {}, h('tr', {}, ['Severity', 'State', 'Host', 'Check', 'Kernel', 'Summary', 'Seen'].map((t) => h('th', {}, t)))),
      h('tbody', {}, findings.map(findingRow))));
}

/** What the host's kernel said about a finding: its status and one line per piece of evidence. */
export function kernelSection(kernel) {
  return h('section', { class: 'kernel-verdict', id: 'kernel' },
    h('h2', {}, 'Kernel ', kernelBadge(kernel)),
    kernel ? h('ul', { class: 'kernel-evidence' }, kernel.evidence.map((line) => h('li', {}, h('code', {}, line))))
      : h('p', { class: 'empty' }, 'A fleet finding: matched across hosts\' snapshots, not asked of a kernel.'));
}

/** One evidence line: the command it came from and its line number, then the text as written. */
export function evidenceList(evidence, commands) {
  return h('ol', { class: 'evidence' }, evidence.map((e) => h('li', {},
    h('span', { class: 'evidence-source', title: e.source }, `${commands[e.source] ?? e.source}${e.lineNumber > 0 ? ` : line ${e.lineNumber}` : ''}`),
    h('code', { class: 'evidence-text' }, e.text))));
}

function ackForm(s, onDone) {
  const status = h('p', { class: 'ack-status', role: 'status' });
  const who = h('input', { name: 'who', required: true, maxlength: 128, placeholder: 'your name', 'aria-label': 'who' });
  const why = h('input', { name: 'why', required: true, maxlength: 2048, placeholder: 'why', 'aria-label': 'why' });
  const until = h('input', { name: 'until', type: 'datetime-local', 'aria-label': 'until (optional)' });
  const kind = h('select', { name: 'state', 'aria-label': 'acknowledge or silence' }, h('option', { value: 'acknowledged' }, 'acknowledge'), h('option', { value: 'silenced' }, 'silence'));
  const submit = async (e) => {
    e.preventDefault();
    try {
      const body = { state: kind.value, who: who.value, why: why.value };
      if (until.value) body.until = new Date(until.value).toISOString();
      await sendJson('POST', `/api/findings/${encodeURIComponent(s.finding.key)}/ack`, body);
      onDone();
    } catch (err) {
      status.textContent = err instanceof ApiError && (err.status === 401 || err.status === 403) ? `not allowed: ${err.message}` : err.message;
    }
  };
  const current = s.ack ? h('p', { class: 'ack-current' }, `${s.ack.state} by ${s.ack.who}: ${s.ack.why}${s.ack.until ? ` (until ${s.ack.until})` : ''} `,
    h('button', { type: 'button', onclick: async () => {
      try {
        await sendJson('DELETE', `/api/findings/${encodeURIComponent(s.finding.key)}/ack`);
        onDone();
      } catch (err) {
        status.textContent = err.message;
      }
    } }, 'remove')) : null;
  return h('section', { class: 'ack' }, h('h2', {}, 'Acknowledge or silence'), current,
    h('form', { id: 'ack-form', onsubmit: submit }, kind, who, why, until, h('button', { type: 'submit' }, 'save')), status);
}

/** The finding page: everything a person needs to act on it. */
export async function renderFinding(main, key) {
  const [check, host] = key.split('|');
  const [{ findings }, commands] = await Promise.all([getJson(`/api/findings?${new URLSearchParams({ check, host })}`), sources()]);
  const s = findings.find((x) => x.finding.key === key);
  if (!s) return mount(main, h('h1', {}, 'Finding'), errorBox(new Error(`no finding "${key}"`)), h('p', {}, h('a', { href: '#/findings' }, '← all findings')));
  const f = s.finding;
  const pairs = f.pairs ?? [];
  mount(main, h('article', { class: `finding state-${s.state}`, id: 'finding', dataset: { key: f.key, state: s.state } },
    h('p', { class: 'crumbs' }, h('a', { href: '#/findings' }, '← findings')),
    h('h1', { class: 'finding-summary' }, severityBadge(f.severity), ' ', f.summary),
    h('dl', { class: 'facts' },
      h('dt', {}, 'state'), h('dd', { class: 'finding-state' }, stateBadge(s.state)),
      h('dt', {}, 'check'), h('dd', { class: 'mono' }, f.check),
      h('dt', {}, 'host'), h('dd', {}, h('a', { href: hostHref(f.host) }, f.host)),
      pairs.length ? [h('dt', {}, pairs.length === 1 ? 'pair' : 'pairs'), pairs.map((pair) => h('dd', { class: 'pair' }, h('a', { href: hostHref(pair[0]) }, pair[0]), ' ↔ ', h('a', { href: hostHref(pair[1]) }, pair[1]), ' · ',
        h('a', { href: pathHref(pair[0], pair[1]), class: 'trace-link' }, 'trace the path')))] : null,
      h('dt', {}, 'subject'), h('dd', { class: 'mono' }, f.subject),
      h('dt', {}, 'reported by'), h('dd', {}, s.sources.length ? s.sources.join(' and ') : 'nobody (resolved)'),
      h('dt', {}, 'first seen'), h('dd', {}, when(s.firstSeen), ` (${s.firstSeen})`),
      h('dt', {}, 'resolved'), h('dd', { class: 'finding-resolved' }, s.resolvedAt ? [when(s.resolvedAt), ` (${s.resolvedAt})`] : 'not resolved'),
      f.trigger ? [h('dt', {}, 'trigger'), h('dd', { class: 'finding-trigger' }, f.trigger.text, ' · ', h('a', { href: `#/timeline?host=${encodeURIComponent(f.trigger.host)}` }, 'timeline'))] : null,
      f.resolvedBy ? [h('dt', {}, 'resolved by'), h('dd', { class: 'finding-resolved-by' }, f.resolvedBy.text)] : null),
    h('h2', {}, 'Evidence'), evidenceList(f.evidence, commands),
    kernelSection(f.kernel),
    h('h2', {}, 'Why'), h('p', { class: 'why' }, f.why),
    h('h2', {}, 'Fix'), h('pre', { class: 'fix' }, f.fix.join('\n')),
    f.peers?.length ? h('p', { class: 'peers' }, 'Names: ', f.peers.join(', ')) : null,
    ackForm(s, () => renderFinding(main, key))));
}
