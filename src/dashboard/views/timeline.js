// The timeline: the hosts' changes and their findings on one time axis (docs/timeline.md), drawn
// as SVG from GET /api/timeline (or /api/hosts/NAME/timeline). One row per host: a change is a
// mark (its kind's shape, its words in a <title>), a finding a bar from opening to resolving,
// linked to the finding's page; host names link to the host's page. Zoom: the window buttons
// and a click on the axis (half the window around the point). Every agent string is a text node.
import { getJson } from '../api.js';
import { findingHref, h, hostHref, mount, severityBadge, when } from '../dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const WINDOWS = [['15 min', 15 * 60_000], ['1 h', 3_600_000], ['6 h', 6 * 3_600_000], ['24 h', 86_400_000], ['7 d', 7 * 86_400_000], ['30 d', 30 * 86_400_000]];
const ROW = 34;
const LEFT = 140;
const WIDTH = 1000;

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
  hosts.forEach((host, i) => {
    const y = 30 + i * ROW + ROW / 2;
    svg.append(link(hostHref(host), s('title', {}, host), s('text', { x: 4, y: y + 4, class: 'host-name' }, host.length > 18 ? `${host.slice(0, 17)}…` : host)));
    svg.append(s('line', { x1: LEFT, x2: WIDTH - 10, y1: y, y2: y, class: 'row' }));
    for (const f of data.findings.filter((f) => f.host === host || (f.pairs ?? []).some((p) => p[0] === host))) {
      const x1 = x(timeOf(f.openedAt));
      const x2 = x(f.resolvedAt ? timeOf(f.resolvedAt) : until);
      const words = [`${f.severity}: ${f.summary}`, `opened ${f.openedAt}`, f.trigger ? f.trigger.text : 'no recorded change before it', f.resolvedAt ? `resolved ${f.resolvedAt}` : 'still open', f.resolvedBy ? f.resolvedBy.text : ''].filter(Boolean).join('\n');
      svg.append(link(findingHref(f.key), s('rect', { x: x1, y: y - 13, width: Math.max(3, x2 - x1), height: 6, class: `finding-bar sev-${f.severity}`, 'data-key': f.key }, s('title', {}, words))));
    }
    for (const c of data.changes.filter((c) => c.host === host)) {
      const words = [c.text, `${c.at} (agent clock)${c.count > 1 ? `, ${c.count} times until ${c.lastAt}` : ''}`, c.before !== undefined ? `before: ${c.before}` : '', c.after !== undefined ? `after: ${c.after}` : ''].filter(Boolean).join('\n');
      const g = s('g', { class: `change kind-${c.kind} action-${c.action}`, 'data-id': c.id }, mark(c.kind, x(timeOf(c.serverAt)), y + 6), s('title', {}, words));
      svg.append(g);
    }
  });
  return svg;
}

function changesTable(changes) {
  if (!changes.length) return h('p', { class: 'empty' }, 'No changes in this window.');
  return h('table', { class: 'grid changes' },
    h('thead', {}, h('tr', {}, ['When', 'Host', 'Change', 'Before', 'After'].map((t) => h('th', {}, t)))),
    h('tbody', {}, changes.map((c) => h('tr', { class: `change-row action-${c.action}`, dataset: { id: String(c.id) } },
      h('td', {}, when(c.serverAt)), h('td', {}, h('a', { href: hostHref(c.host) }, c.host)),
      h('td', {}, c.text, c.count > 1 ? h('span', { class: 'dim' }, ` ×${c.count}`) : null),
      h('td', { class: 'mono' }, c.before ?? '–'), h('td', { class: 'mono' }, c.after ?? '–')))));
}

function findingsList(findings) {
  if (!findings.length) return null;
  return h('ul', { class: 'timeline-findings' }, findings.map((f) => h('li', { dataset: { key: f.key } },
    severityBadge(f.severity), ' ', h('a', { href: findingHref(f.key) }, f.summary),
    f.trigger ? h('div', { class: 'trigger' }, f.trigger.text) : null,
    f.resolvedBy ? h('div', { class: 'trigger' }, f.resolvedBy.text) : null)));
}

/** #/timeline[?host=NAME][&since=MS&until=MS][&window=MS] */
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
  const hosts = host ? [host] : [...new Set([...data.changes.map((c) => c.host), ...data.findings.map((f) => f.host)])].sort();
  const go = (next) => {
    const p = new URLSearchParams(next);
    if (host) p.set('host', host);
    location.hash = `#/timeline?${p}`;
  };
  const zoom = (a, b) => go({ since: String(Math.round(a)), until: String(Math.round(b)) });
  const buttons = h('div', { class: 'timeline-zoom' }, WINDOWS.map(([name, ms]) => h('button', { type: 'button', onclick: () => go({ window: String(ms) }) }, name)),
    h('button', { type: 'button', onclick: () => zoom(since - (until - since) / 2, until + (until - since) / 2) }, 'zoom out'));
  mount(main,
    h('h1', {}, host ? ['Timeline of ', h('a', { href: hostHref(host) }, host)] : 'Timeline'),
    h('p', { class: 'dim' }, `${new Date(since).toISOString()} – ${new Date(until).toISOString()}: ${data.changes.length} change(s), ${data.findings.length} finding(s)`),
    buttons,
    hosts.length ? chart(data, hosts, since, until, zoom) : h('p', { class: 'empty' }, 'Nothing happened in this window.'),
    findingsList(data.findings),
    h('h2', {}, 'Changes'),
    changesTable(data.changes));
}
