// The timeline: the hosts' changes and their findings on one time axis (docs/timeline.md), drawn
// as SVG from GET /api/timeline (or /api/hosts/NAME/timeline). One row per host: a change is a
// mark (its kind's shape, its words in a <title>), a finding a bar from opening to resolving,
// linked to the finding's page; host names link to the host's page. Zoom: the window buttons
// and a click on the axis (half the window around the point). Every agent string is a text node.
// A fleet draws HOSTS_PER_PAGE rows at a time (the hosts with the latest activity first) and
// lists the newest TABLE_ROWS changes until asked for all: a browser drawing 1,000 rows and
// 3,000 table rows at once takes over a second (bench/dashboard.ts).
import { getJson } from '../api.js';
import { findingHref, h, hostHref, markRendered, mount, severityBadge, when } from '../dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const WINDOWS = [['15 min', 15 * 60_000], ['1 h', 3_600_000], ['6 h', 6 * 3_600_000], ['24 h', 86_400_000], ['7 d', 7 * 86_400_000], ['30 d', 30 * 86_400_000]];
const ROW = 34;
const LEFT = 140;
const WIDTH = 1000;
const HOSTS_PER_PAGE = 50;
const TABLE_ROWS = 200;

/** An SVG element; attribute values are set as attributes, children appended (strings as text nodes). */
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== null) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

/** A link inside the SVG: only in-page targets (#/…), like dom.js's safeHref. */
function link(href, ...children) {
  return s('a', { href: String(href).startsWith('#') ? href : '#' }, ...children);
}

function mark(kind, x, y) {
  if (kind === 'address') return s('circle', { cx: x, cy: y, r: 5 });
  if (kind === 'route') return s('rect', { x: x - 4, y: y - 4, width: 8, height: 8 });
  if (kind === 'link') return s('polygon', { points: `${x},${y - 6} ${x + 6},${y + 5} ${x - 6},${y + 5}` });
  return s('polygon', { points: `${x},${y - 6} ${x + 6},${y} ${x},${y + 6} ${x - 6},${y}` });
}

const timeOf = (iso) => Date.parse(iso);
const label = (ms) => new Date(ms).toISOString().replace('T', ' ').slice(5, 19);

function chart(data, hosts, since, until, onZoom) {
  const span = until - since;
  const x = (t) => LEFT + ((Math.min(Math.max(t, since), until) - since) / span) * (WIDTH - LEFT - 10);
  const height = 30 + hosts.length * ROW;
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${height}`, width: '100%', role: 'img', class: 'pic timeline-chart', 'aria-label': `timeline of ${hosts.length} host(s)` });
  const axis = s('g', { class: 'axis' });
  for (let i = 0; i <= 4; i++) {
    const t = since + (span * i) / 4;
    axis.append(s('line', { x1: x(t), x2: x(t), y1: 18, y2: height, class: 'tick' }), s('text', { x: x(t), y: 12, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, label(t)));
  }
  const band = s('rect', { x: LEFT, y: 0, width: WIDTH - LEFT, height: 18, class: 'zoom-band' }, s('title', {}, 'click to zoom in here'));
  band.addEventListener('click', (e) => {
    const box = svg.getBoundingClientRect();
    const at = since + ((((e.clientX - box.left) / box.width) * WIDTH - LEFT) / (WIDTH - LEFT - 10)) * span;
    onZoom(at - span / 4, at + span / 4);
  });
  svg.append(axis, band);
  const findingsOf = byHost(data.findings, (f) => [f.host, ...(f.pairs ?? []).map((p) => p[0])]);
  const changesOf = byHost(data.changes, (c) => [c.host]);
  hosts.forEach((host, i) => {
    const y = 30 + i * ROW + ROW / 2;
    svg.append(link(hostHref(host), s('title', {}, host), s('text', { x: 4, y: y + 4, class: 'host-name' }, host.length > 18 ? `${host.slice(0, 17)}…` : host)));
    svg.append(s('line', { x1: LEFT, x2: WIDTH - 10, y1: y, y2: y, class: 'row' }));
    for (const f of findingsOf.get(host) ?? []) {
      const x1 = x(timeOf(f.openedAt));
      const x2 = x(f.resolvedAt ? timeOf(f.resolvedAt) : until);
      const words = [`${f.severity}: ${f.summary}`, `opened ${f.openedAt}`, f.trigger ? f.trigger.text : 'no recorded change before it', f.resolvedAt ? `resolved ${f.resolvedAt}` : 'still open', f.resolvedBy ? f.resolvedBy.text : ''].filter(Boolean).join('\n');
      svg.append(link(findingHref(f.key), s('rect', { x: x1, y: y - 13, width: Math.max(3, x2 - x1), height: 6, class: `finding-bar sev-${f.severity}`, 'data-key': f.key }, s('title', {}, words))));
    }
    for (const c of changesOf.get(host) ?? []) {
      const words = [c.text, `${c.between ? 'found at the agent\'s start ' : ''}${c.at} (agent clock)${c.count > 1 ? `, ${c.count} times until ${c.lastAt}` : ''}`, c.before !== undefined ? `before: ${c.before}` : '', c.after !== undefined ? `after: ${c.after}` : ''].filter(Boolean).join('\n');
      // A folded entry (churn) spans its first to its last time; one found at the agent's start, dashed, the time it was stopped.
      const at = timeOf(c.serverAt);
      const span = c.between ? s('line', { x1: x(at - (timeOf(c.between.until) - timeOf(c.between.from))), x2: x(at), y1: y + 6, y2: y + 6, class: 'span stopped' })
        : c.lastServerAt && c.lastServerAt !== c.serverAt ? s('line', { x1: x(at), x2: x(timeOf(c.lastServerAt)), y1: y + 6, y2: y + 6, class: 'span' }) : null;
      const g = s('g', { class: `change kind-${c.kind} action-${c.action}${c.between ? ' while-stopped' : ''}`, 'data-id': c.id }, span, mark(c.kind, x(at), y + 6), s('title', {}, words));
      svg.append(g);
    }
  });
  return svg;
}

/** Items by each host `hostsOf` names for them (once per host). */
function byHost(items, hostsOf) {
  const out = new Map();
  for (const x of items) {
    for (const host of new Set(hostsOf(x))) {
      let list = out.get(host);
      if (!list) out.set(host, (list = []));
      list.push(x);
    }
  }
  return out;
}

/** The hosts of the changes and findings, the one with the latest change or opening first (then by name). */
function hostsByActivity(data) {
  const latest = new Map();
  const seen = (host, iso) => { if (!(latest.get(host) >= iso)) latest.set(host, iso); };
  for (const c of data.changes) seen(c.host, c.lastServerAt ?? c.serverAt);
  for (const f of data.findings) seen(f.host, f.resolvedAt ?? f.openedAt);
  return [...latest.keys()].sort((a, b) => (latest.get(a) === latest.get(b) ? (a < b ? -1 : 1) : latest.get(a) > latest.get(b) ? -1 : 1));
}

/** The newest TABLE_ROWS changes and a button that lists them all (`showAll`), or all of them. */
function changesTable(changes, all, showAll) {
  if (!changes.length) return h('p', { class: 'empty' }, 'No changes in this window.');
  const shown = all ? changes : changes.slice(0, TABLE_ROWS);
  const table = h('table', { class: 'grid changes' },
    h('thead', {}, h('tr', {}, ['When', 'Host', 'Change', 'Before', 'After'].map((t) => h('th', {}, t)))),
    h('tbody', {}, shown.map((c) => h('tr', { class: `change-row action-${c.action}`, dataset: { id: String(c.id) } },
      h('td', {}, when(c.serverAt)), h('td', {}, h('a', { href: hostHref(c.host) }, c.host)),
      h('td', {}, c.text, c.count > 1 ? h('span', { class: 'dim' }, ` ×${c.count}`) : null),
      h('td', { class: 'mono' }, c.before ?? '–'), h('td', { class: 'mono' }, c.after ?? '–')))));
  if (shown.length === changes.length) return table;
  return h('div', {}, table, h('p', { class: 'dim table-more' }, `The newest ${shown.length} of ${changes.length} changes. `,
    h('button', { type: 'button', onclick: showAll }, `show all ${changes.length}`)));
}

function findingsList(findings) {
  if (!findings.length) return null;
  return h('ul', { class: 'timeline-findings' }, findings.map((f) => h('li', { dataset: { key: f.key } },
    severityBadge(f.severity), ' ', h('a', { href: findingHref(f.key) }, f.summary),
    f.trigger ? h('div', { class: 'trigger' }, f.trigger.text) : null,
    f.resolvedBy ? h('div', { class: 'trigger' }, f.resolvedBy.text) : null)));
}

/** #/timeline[?host=NAME][&since=MS&until=MS][&window=MS][&rows=N][&changes=all] */
export async function renderTimeline(main, params) {
  const host = params.get('host') ?? undefined;
  const until = Number(params.get('until')) || Date.now();
  let since = Number(params.get('since')) || until - (Number(params.get('window')) || 86_400_000);
  const q = new URLSearchParams({ since: String(Math.round(since)), until: String(Math.round(until)), limit: '5000' });
  const data = host ? await getJson(`/api/hosts/${encodeURIComponent(host)}/timeline?${q}`) : await getJson(`/api/timeline?${q}`);
  // Without a chosen window the axis starts a little before the first thing in the last 24 h (5 min at least).
  if (!params.has('since') && !params.has('window')) {
    const first = Math.min(...data.changes.map((c) => timeOf(c.serverAt)), ...data.findings.map((f) => Math.max(since, timeOf(f.openedAt))));
    if (Number.isFinite(first)) since = Math.max(since, Math.min(until - 300_000, first - (until - first) * 0.1));
  }
  const active = host ? [host] : hostsByActivity(data);
  const first = Math.min(Math.max(0, Number(params.get('rows')) || 0), Math.max(0, active.length - 1));
  const hosts = active.slice(first, first + HOSTS_PER_PAGE);
  const go = (next) => {
    const p = new URLSearchParams(next);
    if (host) p.set('host', host);
    location.hash = `#/timeline?${p}`;
  };
  // What the address keeps (a live update re-reads the view from it): the window, the rows, all changes.
  const chosen = Object.fromEntries(['window', 'since', 'until', 'changes'].filter((k) => params.has(k)).map((k) => [k, params.get(k)]));
  const page = (at) => h('button', { type: 'button', onclick: () => go({ ...chosen, rows: String(at) }) }, at < first ? `← hosts ${at + 1}–${at + HOSTS_PER_PAGE}` : `hosts ${at + 1}–${Math.min(at + HOSTS_PER_PAGE, active.length)} →`);
  const pager = active.length > HOSTS_PER_PAGE
    ? h('p', { class: 'timeline-pager' }, `Hosts ${first + 1}–${first + hosts.length} of ${active.length}, latest activity first. `,
      first > 0 ? page(Math.max(0, first - HOSTS_PER_PAGE)) : null, ' ', first + HOSTS_PER_PAGE < active.length ? page(first + HOSTS_PER_PAGE) : null)
    : null;
  const zoom = (a, b) => go({ since: String(Math.round(a)), until: String(Math.round(b)) });
  const buttons = h('div', { class: 'timeline-zoom' }, WINDOWS.map(([name, ms]) => h('button', { type: 'button', onclick: () => go({ window: String(ms) }) }, name)),
    h('button', { type: 'button', onclick: () => zoom(since - (until - since) / 2, until + (until - since) / 2) }, 'zoom out'));
  mount(main,
    h('h1', {}, host ? ['Timeline of ', h('a', { href: hostHref(host) }, host)] : 'Timeline'),
    h('p', { class: 'dim' }, `${new Date(since).toISOString()} – ${new Date(until).toISOString()}: ${data.changes.length} change(s), ${data.findings.length} finding(s)`),
    buttons,
    pager,
    hosts.length ? chart(data, hosts, since, until, zoom) : h('p', { class: 'empty' }, 'Nothing happened in this window.'),
    findingsList(data.findings),
    h('h2', {}, 'Changes'),
    changesTable(data.changes, params.get('changes') === 'all', () => go({ ...chosen, ...(first ? { rows: String(first) } : {}), changes: 'all' })));
  markRendered('timeline');
}
