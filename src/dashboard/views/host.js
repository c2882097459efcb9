// A host: interfaces with kind and owner (Docker network, CNI, libvirt), addresses, routes per
// table and rules, with the lines open findings cite highlighted; its findings and report history.
import { getJson, sources } from '../api.js';
import { findingHref, h, kernelBadge, mount, severityBadge, stateBadge, when } from '../dom.js';

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
    h('thead', {}, h('tr', {}, ['Severity', 'State', 'Kernel', 'Summary', 'First seen', 'Resolved'].map((t) => h('th', {}, t)))),
    h('tbody', {}, findings.map((s) => h('tr', { class: `finding-row state-${s.state}`, dataset: { key: s.finding.key } },
      h('td', {}, severityBadge(s.finding.severity)), h('td', {}, stateBadge(s.state)), h('td', { class: 'kernel-cell' }, kernelBadge(s.finding.kernel)),
      h('td', {}, h('a', { href: findingHref(s.finding.key) }, s.finding.summary)),
      h('td', {}, when(s.firstSeen)), h('td', {}, s.resolvedAt ? when(s.resolvedAt) : '–')))));
}

/** The drop counters (and reasons) that moved between the agent's last two checks. */
function kernelWindow(k) {
  if (!k) return h('p', { class: 'empty' }, 'No counter window yet: the agent sends one from its second check on (or it reports a bundle).');
  const w = k.window;
  const drops = w.drops;
  return h('div', { class: 'kernel-window', id: 'kernel-window' },
    h('p', {}, `Between the agent's last two checks (${Number(w.seconds.toPrecision(3))} s, received `, when(k.receivedAt), ')'),
    w.counters.length ? h('ul', { class: 'kernel-counters' }, w.counters.map((c) => h('li', {}, h('code', {}, `${c.name} +${c.delta}`))))
      : h('p', { class: 'empty' }, 'No drop counter moved.'),
    drops?.status === 'read' ? [h('p', {}, 'Drop reasons (skb:kfree_skb, system-wide: every network namespace on that machine):'),
      drops.drops.length ? h('ul', { class: 'kernel-drops' }, drops.drops.slice(0, 50).map((d) => h('li', {}, h('code', {}, `${d.reason} at ${d.location}: ${d.count}`)))) : h('p', { class: 'empty' }, 'none')]
      : drops ? h('p', { class: 'empty' }, `Drop reasons unavailable: ${drops.message ?? 'unknown'}`) : null,
    w.missing.length ? h('p', { class: 'dim' }, `Not read: ${w.missing.join('; ')}`) : null);
}

function historyTable(history) {
  return h('table', { class: 'grid history' },
    h('thead', {}, h('tr', {}, ['Report', 'Received', 'Findings', 'Bytes', 'Complete'].map((t) => h('th', {}, t)))),
    h('tbody', {}, history.slice(0, 20).map((r) => h('tr', {},
      h('td', {}, `#${r.seq}`), h('td', {}, when(r.receivedAt)), h('td', {}, String(r.findings)), h('td', {}, String(r.bytes)), h('td', {}, r.complete ? '✓' : '✗ incomplete')))));
}

export async function renderHost(main, name) {
  const [data, commands] = await Promise.all([getJson(`/api/hosts/${encodeURIComponent(name)}`), sources()]);
  const { host, snapshot, findings, history, kernel } = data;
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
      host.complete ? '' : ' · ✗ incomplete collection', snapshot?.identity?.cloud ? ` · ${snapshot.identity.cloud.region ?? ''} ${snapshot.identity.cloud.vpcId ?? ''}` : '',
      ' · ', h('a', { href: `#/timeline?host=${encodeURIComponent(host.name)}`, class: 'timeline-link' }, 'timeline')),
    h('h2', {}, 'Findings and their history'), findingsTable(findings),
    h('h2', {}, 'Kernel counters'), kernelWindow(kernel),
    ...sections,
    h('h2', {}, 'Reports'), historyTable(history)));
}
