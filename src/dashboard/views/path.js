// Path view: pick from / to / port, see the path as a diagram (path-diagram.js: hop by hop, the
// deciding rule or route under each, the break marked), then each hop with its evidence lines;
// loops and drops are marked with a symbol and colour. Nothing is sent: the
// aggregator's tracer (/api/path) simulates it over the hosts' reported snapshots.
import { getJson, sources } from '../api.js';
import { errorBox, h, hostHref, markRendered, mount } from '../dom.js';
import { evidenceList } from './findings.js';
import { legDiagram } from './path-diagram.js';

const OUTCOME_SYMBOL = { delivered: '✓', loop: '↻', blackhole: '⛔', dropped: '⛔', left: '↗' };
const ACTION_SYMBOL = { drop: '⛔', blackhole: '⛔', deliver: '✓', encrypt: '🔒', leave: '↗' };

function legView(title, leg, commands) {
  const cycle = new Set(leg.cycle ?? []);
  const last = leg.hops.length - 1;
  return h('section', { class: `leg outcome-${leg.outcome}`, dataset: { outcome: leg.outcome } },
    h('h2', {}, `${title} ${leg.src} → ${leg.dst} `, h('span', { class: `outcome o-${leg.outcome}` }, `${OUTCOME_SYMBOL[leg.outcome] ?? ''} ${leg.outcome}`)),
    h('div', { class: 'diagram-scroll' }, legDiagram(leg, title)),
    h('table', { class: 'grid hops' },
      h('thead', {}, h('tr', {}, ['#', 'Node', 'In', 'Action', 'TTL', 'Decided by', 'Next'].map((t) => h('th', {}, t)))),
      h('tbody', {}, leg.hops.map((hop, i) => {
        const marks = [cycle.has(hop.node) && leg.outcome === 'loop' ? 'in-loop' : '', i === last && (leg.outcome === 'dropped' || leg.outcome === 'blackhole') ? 'dropped' : ''].filter(Boolean).join(' ');
        return [
          h('tr', { class: `hop ${marks}`, dataset: { node: hop.node, action: hop.action } },
            h('td', {}, String(i + 1)),
            h('td', {}, hop.kind === 'host' ? h('a', { href: hostHref(hop.node) }, hop.node) : hop.node, marks.includes('in-loop') ? h('span', { class: 'badge loop-badge' }, '↻ loop') : null),
            h('td', { class: 'mono' }, hop.iif ?? 'sent'),
            h('td', {}, `${ACTION_SYMBOL[hop.action] ?? ''} ${hop.action}`),
            h('td', {}, String(hop.ttl)),
            h('td', { class: 'mono note' }, hop.note),
            h('td', { class: 'mono' }, [hop.dev ? `dev ${hop.dev}` : '', hop.via ? `via ${hop.via}` : ''].filter(Boolean).join(' ') || '–')),
          hop.evidence.length ? h('tr', { class: 'hop-evidence' }, h('td', {}), h('td', { colspan: 6 }, evidenceList(hop.evidence, commands))) : null,
        ];
      }))),
    leg.cycle ? h('p', { class: 'loop-line' }, `↻ loop: ${[...leg.cycle, leg.cycle[0]].join(' → ')} — repeats until the TTL runs out`) : null,
    leg.timeExceeded ? h('p', { class: 'ttl-line' }, `ping would print: From ${leg.timeExceeded.address ?? leg.timeExceeded.node} icmp_seq=1 Time to live exceeded (${leg.timeExceeded.node}, forwarding hop ${leg.timeExceeded.hop})`) : null,
    leg.detail ? h('p', { class: `detail o-${leg.outcome}` }, `${OUTCOME_SYMBOL[leg.outcome] ?? ''} ${leg.detail}`) : null);
}

function form(hosts, params) {
  const names = hosts.map((x) => x.name);
  const from = h('select', { id: 'path-from', name: 'from', 'aria-label': 'from host' }, names.map((n) => h('option', { value: n, selected: params.get('from') === n }, n)));
  const to = h('input', { id: 'path-to', name: 'to', list: 'path-hosts', value: params.get('to') ?? '', placeholder: 'host or address', 'aria-label': 'to host or address', required: true });
  const port = h('input', { id: 'path-port', name: 'port', value: params.get('port') ?? 'icmp', placeholder: 'icmp, tcp/443, udp/53', 'aria-label': 'port', size: 10 });
  return h('form', { class: 'toolbar', id: 'path-form', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams({ from: from.value, to: to.value.trim() });
    if (port.value.trim() && port.value.trim() !== 'icmp') q.set('port', port.value.trim());
    location.hash = `#/path?${q}`;
  } }, h('h1', {}, 'Path'), 'from ', from, ' to ', to, h('datalist', { id: 'path-hosts' }, names.map((n) => h('option', { value: n }))), ' port ', port, h('button', { type: 'submit' }, 'trace'));
}

export async function renderPath(main, params) {
  const [{ hosts }, commands] = await Promise.all([getJson('/api/hosts'), sources()]);
  const result = h('div', { id: 'path-result' });
  mount(main, form(hosts, params), result);
  if (!params.get('from') || !params.get('to')) return mount(result, h('p', { class: 'dim' }, 'Pick a source host and a destination; the tracer simulates the packet through every reporting host, sending nothing.'));
  try {
    const r = await getJson(`/api/path?${params}`);
    mount(result,
      h('p', { class: 'facts-line' }, `${r.query.from} → ${r.query.to}${r.toHost && r.toHost !== r.query.to ? ` (${r.toHost})` : ''} · ${r.query.port ?? 'icmp'}`),
      legView('request', r.forward, commands),
      r.reply ? legView('reply', r.reply, commands) : null,
      r.notes.length ? h('ul', { class: 'notes' }, r.notes.map((n) => h('li', {}, n))) : null);
    markRendered('path');
  } catch (err) {
    mount(result, errorBox(err));
  }
}
