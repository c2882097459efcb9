// Fleet overview: one row per host with region/VPC, addresses, agent version, last report age
// (stale hosts stand out), open findings by severity; sortable columns, a filter, and a search
// box that finds a host by name, by an address it holds or by a CIDR. Above it, what is wrong:
// the open errors' summaries, newest first, each linked to its finding.
import { getJson } from '../api.js';
import { ago, findingHref, h, hostHref, markRendered, mount, severityBadge, when } from '../dom.js';
import { holds, parsePrefix } from '../net.js';

/** Kept across renders so a live refresh keeps the user's sort, filter and search. */
const state = { sort: 'name', desc: false, filter: 'all', search: '' };

const COLUMNS = [
  ['name', 'Host'], ['region', 'Region'], ['vpc', 'VPC'], ['addresses', 'Addresses'],
  ['agentVersion', 'Agent'], ['lastSeen', 'Last report'], ['findings', 'Findings'],
];

const FILTERS = { all: 'all hosts', errors: 'with errors', findings: 'with findings', stale: 'stale', disconnected: 'disconnected' };

function sortKey(host, column) {
  if (column === 'findings') return host.findings.error * 1e6 + host.findings.warning * 1e3 + host.findings.info;
  if (column === 'addresses') return host.addresses[0] ?? '';
  return host[column] ?? '';
}

function matches(host, search, query) {
  if (!search) return true;
  if (host.name.toLowerCase().includes(search.toLowerCase())) return true;
  return query ? holds(host.addresses, query) : host.addresses.some((a) => a.startsWith(search));
}

function passes(host) {
  switch (state.filter) {
    case 'errors': return host.findings.error > 0;
    case 'findings': return host.findings.error + host.findings.warning + host.findings.info > 0;
    case 'stale': return host.stale;
    case 'disconnected': return !host.connected;
    default: return true;
  }
}

function row(host, now) {
  const addrs = host.addresses;
  const f = host.findings;
  return h('tr', { class: `host-row${host.stale ? ' stale' : ''}${f.error ? ' has-error' : ''}`, dataset: { host: host.name } },
    h('td', {}, h('span', { class: host.connected ? 'conn on' : 'conn off', title: host.connected ? 'agent connected' : 'agent not connected' }, host.connected ? '●' : '○'), ' ',
      h('a', { href: hostHref(host.name) }, host.name)),
    h('td', {}, host.region ?? '–'),
    h('td', {}, host.vpc ?? '–'),
    h('td', { class: 'mono', title: addrs.join('\n') }, addrs.slice(0, 3).join(' '), addrs.length > 3 ? ` +${addrs.length - 3}` : ''),
    h('td', {}, host.agentVersion ?? '–'),
    h('td', { title: host.lastSeen }, ago(host.lastSeen, now), host.stale ? h('span', { class: 'badge stale-badge' }, '⏸ stale') : null),
    h('td', { class: 'counts' }, f.error ? severityBadge('error', f.error) : null, f.warning ? severityBadge('warning', f.warning) : null,
      f.info ? severityBadge('info', f.info) : null, f.error + f.warning + f.info === 0 ? h('span', { class: 'none' }, '✓ none') : null),
  );
}

/** How many open errors the overview lists before linking to the rest. */
const ERRORS_SHOWN = 12;

/** Newest first: the error that opened last leads. */
function byFirstSeen(a, b) {
  return Date.parse(b.firstSeen) - Date.parse(a.firstSeen) || a.finding.key.localeCompare(b.finding.key);
}

/** The open errors' summaries: what is wrong right now, each a link to its finding. */
function openErrors(findings, hostNames) {
  const open = findings.filter((f) => f.state === 'open').sort(byFirstSeen);
  if (!open.length) return h('section', { class: 'open-errors none-open', id: 'open-errors', dataset: { count: 0 } }, h('p', { class: 'none' }, '✓ no open errors'));
  const more = open.length - ERRORS_SHOWN;
  return h('section', { class: 'open-errors', id: 'open-errors', dataset: { count: open.length } },
    h('h2', {}, `${open.length} open error${open.length === 1 ? '' : 's'}`, h('span', { class: 'dim' }, ' · newest first')),
    h('ol', { class: 'error-list' }, open.slice(0, ERRORS_SHOWN).map((f) => h('li', { class: 'open-error', dataset: { key: f.finding.key, host: f.finding.host } },
      severityBadge('error'),
      h('a', { class: 'summary', href: findingHref(f.finding.key) }, f.finding.summary),
      // A fleet finding's host may be a topology node (a VPN gateway) with no page of its own.
      h('span', { class: 'meta' }, hostNames.has(f.finding.host) ? h('a', { href: hostHref(f.finding.host) }, f.finding.host) : f.finding.host, ' · ', h('span', { class: 'mono' }, f.finding.check), ' · opened ', when(f.firstSeen))))),
    more > 0 ? h('p', {}, h('a', { class: 'more-errors', href: '#/findings?severity=error&state=open' }, `and ${more} more open error${more === 1 ? '' : 's'} →`)) : null);
}

export async function renderOverview(main, params) {
  const [{ hosts }, { findings }] = await Promise.all([getJson('/api/hosts'), getJson('/api/findings?severity=error&state=open')]);
  if (params.get('q') !== null) state.search = params.get('q');
  const body = h('tbody', {});
  const count = h('span', { class: 'count' });
  const fill = () => {
    const query = parsePrefix(state.search);
    const now = Date.now();
    const shown = hosts.filter((x) => passes(x) && matches(x, state.search.trim(), query));
    shown.sort((a, b) => {
      const x = sortKey(a, state.sort);
      const y = sortKey(b, state.sort);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return c === 0 ? a.name.localeCompare(b.name) : state.desc ? -c : c;
    });
    const frag = document.createDocumentFragment();
    for (const x of shown) frag.appendChild(row(x, now));
    body.replaceChildren(frag);
    count.textContent = `${shown.length} of ${hosts.length} hosts · ${hosts.filter((x) => x.stale).length} stale`;
  };
  const head = h('tr', {}, COLUMNS.map(([key, label]) => h('th', {
    class: state.sort === key ? `sorted ${state.desc ? 'desc' : 'asc'}` : '', 'aria-sort': state.sort === key ? (state.desc ? 'descending' : 'ascending') : 'none',
  }, h('button', { type: 'button', class: 'sort', onclick: () => {
    state.desc = state.sort === key ? !state.desc : key === 'findings' || key === 'lastSeen';
    state.sort = key;
    renderOverview(main, new URLSearchParams());
  } }, label, state.sort === key ? (state.desc ? ' ▼' : ' ▲') : ''))));
  const search = h('input', { type: 'search', id: 'host-search', placeholder: 'host name, address or CIDR', value: state.search, 'aria-label': 'search hosts',
    oninput: (e) => { state.search = e.target.value; fill(); } });
  const filter = h('select', { id: 'host-filter', 'aria-label': 'filter hosts', onchange: (e) => { state.filter = e.target.value; fill(); } },
    Object.entries(FILTERS).map(([v, label]) => h('option', { value: v, selected: v === state.filter }, label)));
  mount(main,
    openErrors(findings, new Set(hosts.map((x) => x.name))),
    h('div', { class: 'toolbar' }, h('h1', {}, 'Fleet'), search, filter, count),
    h('table', { class: 'grid hosts', id: 'hosts' }, h('thead', {}, head), body));
  fill();
  window.__hcOverviewRenderedAt = performance.now();
  markRendered('overview');
}
