// A host: interfaces with kind and owner (Docker network, CNI, libvirt), addresses, routes per
// table and rules, with the lines open findings cite highlighted; its findings and report history.
import { getJson, sources } from '../api.js';
import { findingHref, h, mount, severityBadge, stateBadge, when } from '../dom.js';

const lineId = (origin) => `${origin?.source ?? ''}:${origin?.lineNumber ?? 0}`;

function ownerText(owner) {
  if (!owner) return '–';
  return owner.name ? `${owner.type}: ${owner.name}` : owner.type;
}

function interfacesTable(snapshot, cited) {
  return h('table', { class: 'grid interfaces', id: 'interfaces' },
    h('thead', {}, h('tr', {}, ['Interface', 'Kind', 'Owner', 'State', 'Addresses'].map((t) => h('th', {}, t)))),
    h('tbody', {}, snapshot.interfaces.map((i) => h('tr', { class: cited.has(lineId(i.origin)) || i.addresses.some((a) => cited.has(lineId(a.origin))) ? 'cited' : '' },
      h('td', { class: 'mono' }, i.name, i.master ? h('span', { class: 'dim' }, ` (in ${i.master})`) : null),
      h('td', {}, i.kindText ?? i.kind, i.uplink ? h('span', { class: 'badge' }, 'uplink') : null),
      h('td', { class: 'owner' }, ownerText(i.owner)),
      h('td', {}, i.noCarrier ? 'NO-CARRIER' : (i.state ?? '–')),
      h('td', { class: 'mono' }, i.addresses.map((a) => h('div', {}, a.cidr)))))));
}

/** Raw lines as the command printed them, numbered, cited ones highlighted. */
function lines(records, cited, commands) {
  return h('ol', { class: 'lines' }, records.map((r) => h('li', {
    class: cited.has(lineId(r.origin)) ? 'cited' : '', title: `${commands[r.origin?.source] ?? r.origin?.source ?? ''} line ${r.origin?.lineNumber ?? '?'}`,
  }, h('span', { class: 'ln' }, String(r.origin?.lineNumber ?? '')), h('code', {}, r.origin?.text ?? ''))));
}

function routesByTable(routes) {
  const tables = new Map();
  for (const r of routes) {
    const key = `${r.family === 6 ? 'IPv6' : 'IPv4'} table ${r.table}`;
    if (!tables.has(key)) tables.set(key, []);
    tables.get(key).push(r);
  }
  return tables;
}

function findingsTable(findings) {
  if (!findings.length) return h('p', { class: 'empty' }, 'No findings, ever.');
  return h('table', { class: 'grid findings' },
    h('thead', {}, h('tr', {}, ['Severity', 'State', 'Summary', 'First seen', 'Resolved'].map((t) => h('th', {}, t)))),
    h('tbody', {}, findings.map((s) => h('tr', { class: `finding-row state-${s.state}` },
      h('td', {}, severityBadge(s.finding.severity)), h('td', {}, stateBadge(s.state)),
      h('td', {}, h('a', { href: findingHref(s.finding.key) }, s.finding.summary)),
      h('td', {}, when(s.firstSeen)), h('td', {}, s.resolvedAt ? when(s.resolvedAt) : '–')))));
}

function historyTable(history) {
  return h('table', { class: 'grid history' },
    h('thead', {}, h('tr', {}, ['Report', 'Received', 'Findings', 'Bytes', 'Complete'].map((t) => h('th', {}, t)))),
    h('tbody', {}, history.slice(0, 20).map((r) => h('tr', {},
      h('td', {}, `#${r.seq}`), h('td', {}, when(r.receivedAt)), h('td', {}, String(r.findings)), h('td', {}, String(r.bytes)), h('td', {}, r.complete ? '✓' : '✗ incomplete')))));
}

export async function renderHost(main, name) {
  const [data, commands] = await Promise.all([getJson(`/api/hosts/${encodeURIComponent(name)}`), sources()]);
  const { host, snapshot, findings, history } = data;
  // Only open findings' evidence is highlighted: resolved ones cite lines that may be gone.
  const cited = new Set();
  for (const s of findings) if (s.state !== 'resolved' && s.finding.host === name) for (const e of s.finding.evidence) cited.add(`${e.source}:${e.lineNumber}`);
  const sections = [];
  if (snapshot) {
    sections.push(h('h2', {}, 'Interfaces'), interfacesTable(snapshot, cited));
    for (const [table, routes] of routesByTable(snapshot.routes)) sections.push(h('h3', {}, `Routes · ${table}`), lines(routes, cited, commands));
    sections.push(h('h2', {}, 'Rules'), lines(snapshot.rules, cited, commands));
  } else sections.push(h('p', { class: 'empty' }, 'No snapshot stored.'));
  mount(main, h('article', { class: 'host', id: 'host', dataset: { host: host.name } },
    h('h1', {}, host.name, host.stale ? h('span', { class: 'badge stale-badge' }, '⏸ stale') : null),
    h('p', { class: 'facts-line' }, `${host.connected ? '● connected' : '○ not connected'} · agent ${host.agentVersion ?? '?'} · last report `, when(host.lastSeen),
      host.complete ? '' : ' · ✗ incomplete collection', snapshot?.identity?.cloud ? ` · ${snapshot.identity.cloud.region ?? ''} ${snapshot.identity.cloud.vpcId ?? ''}` : ''),
    h('h2', {}, 'Findings and their history'), findingsTable(findings),
    ...sections,
    h('h2', {}, 'Reports'), historyTable(history)));
}
