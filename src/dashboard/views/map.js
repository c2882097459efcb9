// Topology map: the fleet as an SVG picture. VPCs are boxes, their subnets boxes inside, hosts
// nodes inside those with their bridges (■) and tunnels (◆) as chips; broken pairs are red edges
// (the cause on hover, a click opens the finding), tunnels between hosts dashed edges, and what is
// outside the fleet (cloud nodes, tunnel endpoints) a box of its own. At 1,000 hosts nodes shrink
// to squares, a VPC picker shows one VPC, and the search box lights up hosts by name, address
// or CIDR. Every agent-supplied string is a text node (dom.js s()).
import { getJson } from '../api.js';
import { findingHref, h, hostHref, markRendered, mount, pathHref, s } from '../dom.js';
import { holds, parsePrefix } from '../net.js';

/** Above this many hosts on the map, nodes are squares without labels (the name is on hover). */
const COMPACT = 300;
const FULL = { w: 168, h: 46, gap: 10, cols: 8 };
const SMALL = { w: 14, h: 14, gap: 4, cols: 24 };
const PAD = 10;
const HEAD = 22;
const MAX_WIDTH = 1800;

/**
 * Kept across renders: a live refresh keeps the search, the VPC shown and the zoom ('fit': the
 * whole picture as wide as the view at most, never enlarged; else a scale the buttons set).
 */
const state = { search: '', vpc: '', zoom: 'fit' };

const short = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function hostStatus(x) {
  if (x.stale) return 'stale';
  if (x.findings.error) return 'error';
  if (x.findings.warning) return 'warning';
  return 'ok';
}

/** VPC → subnet → hosts, each level sorted by name. */
function groupHosts(hosts) {
  const vpcs = new Map();
  for (const x of hosts) {
    const v = x.vpc ?? 'no VPC';
    const sub = x.subnet ?? 'no subnet';
    if (!vpcs.has(v)) vpcs.set(v, new Map());
    const subnets = vpcs.get(v);
    if (!subnets.has(sub)) subnets.set(sub, []);
    subnets.get(sub).push(x);
  }
  const sorted = (m) => [...m].sort(([a], [b]) => a.localeCompare(b));
  return sorted(vpcs).map(([vpc, subnets]) => ({ vpc, subnets: sorted(subnets).map(([subnet, list]) => ({ subnet, hosts: list.sort((a, b) => a.name.localeCompare(b.name)) })) }));
}

/** Place groups and nodes: subnets stack inside a VPC box, VPC boxes fill shelves left to right. */
function layout(groups, externals, size, outsideLabel) {
  const pos = new Map();
  const boxes = [];
  const placeGrid = (items, x0, y0, cols) => {
    items.forEach((item, i) => pos.set(item, { x: x0 + (i % cols) * (size.w + size.gap), y: y0 + Math.floor(i / cols) * (size.h + size.gap), w: size.w, h: size.h }));
    const rows = Math.ceil(items.length / cols);
    return { w: Math.min(items.length, cols) * (size.w + size.gap) - size.gap, h: rows * (size.h + size.gap) - size.gap };
  };
  const vpcBoxes = groups.map((g) => {
    let y = HEAD;
    let w = 120;
    const subnets = g.subnets.map((sub) => {
      const cols = Math.max(1, Math.min(sub.hosts.length, size.cols));
      const grid = { x: PAD, y: y + HEAD, cols };
      const dims = { w: Math.min(sub.hosts.length, cols) * (size.w + size.gap) - size.gap, h: Math.ceil(sub.hosts.length / cols) * (size.h + size.gap) - size.gap };
      const box = { sub, x: PAD / 2, y, w: Math.max(dims.w + PAD, 110), h: dims.h + HEAD + PAD, grid };
      y += box.h + PAD;
      w = Math.max(w, box.w + PAD);
      return box;
    });
    return { g, w, h: y, subnets };
  });
  let x = 0;
  let y = 0;
  let shelf = 0;
  const place = (w, hgt) => {
    if (x > 0 && x + w > MAX_WIDTH) {
      x = 0;
      y += shelf + 16;
      shelf = 0;
    }
    const at = { x, y };
    x += w + 16;
    shelf = Math.max(shelf, hgt);
    return at;
  };
  for (const b of vpcBoxes) {
    const at = place(b.w, b.h);
    boxes.push({ kind: 'vpc', name: b.g.vpc, x: at.x, y: at.y, w: b.w, h: b.h, count: b.subnets.reduce((n, sb) => n + sb.sub.hosts.length, 0) });
    for (const sb of b.subnets) {
      boxes.push({ kind: 'subnet', name: sb.sub.subnet, vpc: b.g.vpc, x: at.x + sb.x, y: at.y + sb.y, w: b.w - PAD, h: sb.h, count: sb.sub.hosts.length });
      placeGrid(sb.sub.hosts, at.x + sb.grid.x, at.y + sb.grid.y, sb.grid.cols);
    }
  }
  if (externals.length) {
    const ext = { w: 210, h: 30, gap: 8 };
    const cols = Math.max(1, Math.min(externals.length, 4));
    const w = cols * (ext.w + ext.gap) + PAD;
    const hgt = HEAD + Math.ceil(externals.length / cols) * (ext.h + ext.gap) + PAD;
    const at = place(w, hgt);
    boxes.push({ kind: 'outside', name: outsideLabel, x: at.x, y: at.y, w, h: hgt, count: externals.length });
    externals.forEach((e, i) => pos.set(e, { x: at.x + PAD + (i % cols) * (ext.w + ext.gap), y: at.y + HEAD + Math.floor(i / cols) * (ext.h + ext.gap), w: ext.w, h: ext.h }));
  }
  return { pos, boxes, width: Math.max(...boxes.map((b) => b.x + b.w), 200) + 2, height: Math.max(...boxes.map((b) => b.y + b.h), 60) + 2 };
}

/** Where the line from a node's centre towards (tx, ty) leaves its box. */
function border(n, tx, ty) {
  const cx = n.x + n.w / 2;
  const cy = n.y + n.h / 2;
  const dx = tx - cx;
  const dy = ty - cy;
  if (!dx && !dy) return [cx, cy];
  const t = Math.min(dx ? n.w / 2 / Math.abs(dx) : Infinity, dy ? n.h / 2 / Math.abs(dy) : Infinity, 1);
  return [cx + dx * t, cy + dy * t];
}

/** A curved edge from box to box (bowed so parallel edges stay apart), ending at their borders. */
function curve(a, b, bow = 0.15) {
  const x1 = a.x + a.w / 2;
  const y1 = a.y + a.h / 2;
  const x2 = b.x + b.w / 2;
  const y2 = b.y + b.h / 2;
  const mx = (x1 + x2) / 2 - (y2 - y1) * bow;
  const my = (y1 + y2) / 2 + (x2 - x1) * bow;
  const [sx, sy] = border(a, mx, my);
  const [ex, ey] = border(b, mx, my);
  const f = (v) => v.toFixed(1);
  return `M${f(sx)},${f(sy)} Q${f(mx)},${f(my)} ${f(ex)},${f(ey)}`;
}

/** Broken pairs and tunnels as edges between map nodes; names or addresses outside the fleet become external nodes. */
function edgesOf(hosts, all, pairs, findings) {
  const byName = new Map(all.map((x) => [x.name, x]));
  const byAddress = new Map();
  for (const x of all) for (const c of x.addresses) byAddress.set(c.split('/')[0], x);
  const shown = new Set(hosts);
  const externals = new Map();
  // A host of another VPC (when one VPC is shown) is drawn outside, like a cloud node.
  const node = (nameOrAddress) => {
    const x = byName.get(nameOrAddress) ?? byAddress.get(nameOrAddress);
    if (x && shown.has(x)) return x;
    const name = x ? x.name : nameOrAddress;
    if (!externals.has(name)) externals.set(name, { external: true, name, label: x ? `${x.name} · ${x.vpc ?? 'no VPC'}` : name });
    return externals.get(name);
  };
  const broken = pairs.filter((p) => p.verdict === 'broken').map((p) => ({ kind: 'broken', a: node(p.from), b: node(p.to), pair: p }));
  // A fleet finding may pair a host with a node that sends no reports (a topology's VPN gateway):
  // /api/pairs cannot judge such a pair, the finding can.
  const drawn = new Set(broken.map((e) => [e.pair.from, e.pair.to].sort().join('\u0000')));
  for (const f of findings) {
    for (const [from, to] of f.finding.pairs ?? []) {
      const k = [from, to].sort().join('\u0000');
      if (drawn.has(k) || (byName.has(from) && byName.has(to))) continue;
      drawn.add(k);
      broken.push({ kind: 'broken', a: node(from), b: node(to), pair: { from, to, verdict: 'broken', cause: `${f.finding.host}: ${f.finding.summary}`, findings: [f.finding.key] } });
    }
  }
  const tunnels = [];
  const overlays = new Map();
  for (const x of hosts) {
    for (const t of x.tunnels) {
      if (t.remote) tunnels.push({ kind: 'tunnel', a: x, b: node(t.remote), tunnel: t, label: `${x.name}: ${t.name}${t.selectors?.length ? ` (${t.selectors.join(', ')})` : ''}` });
      for (const c of t.cidrs) {
        const net = overlayOf(c);
        if (!net) continue;
        const k = `${t.kind} ${net}`;
        if (!overlays.has(k)) overlays.set(k, []);
        overlays.get(k).push({ host: x, tunnel: t });
      }
    }
  }
  // Hosts whose tunnel devices share a network are one overlay: a star from its first host.
  for (const [k, members] of overlays) {
    const [hub, ...rest] = members;
    for (const m of rest) if (m.host !== hub.host) tunnels.push({ kind: 'tunnel', a: hub.host, b: m.host, tunnel: m.tunnel, label: `${k}: ${hub.host.name} ${hub.tunnel.name} ↔ ${m.host.name} ${m.tunnel.name}` });
  }
  return { broken, tunnels, externals: [...externals.values()].sort((a, b) => a.name.localeCompare(b.name)) };
}

/** "10.42.0.1/24" → "10.42.0.0/24" (IPv4 only; a /32 or /31 point-to-point address is no overlay). */
function overlayOf(cidr) {
  const p = parsePrefix(cidr);
  if (!p || p.family !== 4 || p.length >= 31) return null;
  const shift = BigInt(32 - p.length);
  const n = (p.value >> shift) << shift;
  return `${[24n, 16n, 8n, 0n].map((b) => (n >> b) & 255n).join('.')}/${p.length}`;
}

function chips(x, at) {
  const items = [
    ...x.bridges.map((b) => ({ cls: `chip bridge${b.noCarrier ? ' no-carrier' : ''}`, name: b.name, glyph: '■', title: `bridge ${b.name}${b.owner ? ` (${b.owner})` : ''}${b.cidrs.length ? ` ${b.cidrs.join(' ')}` : ''}${b.noCarrier ? ' — no carrier' : ''}` })),
    ...x.tunnels.map((t) => ({ cls: `chip tunnel t-${t.kind}`, name: t.name, glyph: '◆', title: `${t.kind} ${t.name}${t.cidrs.length ? ` ${t.cidrs.join(' ')}` : ''}${t.selectors?.length ? ` carries ${t.selectors.join(', ')}` : ''}` })),
  ];
  const out = [];
  let cx = at.x + 5;
  for (const [i, c] of items.entries()) {
    const text = `${c.glyph} ${short(c.name, 8)}`;
    const w = 8 + text.length * 5.6;
    if (cx + w > at.x + at.w - 4) {
      out.push(s('text', { class: 'more', x: cx, y: at.y + 39 }, `+${items.length - i}`));
      break;
    }
    out.push(s('g', { class: c.cls, dataset: { name: c.name }, transform: `translate(${cx.toFixed(1)},${at.y + 28})` },
      s('title', {}, c.title), s('rect', { width: w.toFixed(1), height: 13, rx: 2 }), s('text', { x: 4, y: 10 }, text)));
    cx += w + 3;
  }
  return out;
}

function hostNode(x, at, compact) {
  const status = hostStatus(x);
  const f = x.findings;
  const title = `${x.name} · ${x.subnet ?? 'no subnet'}${x.vpc ? ` · ${x.vpc}` : ''}\n${x.addresses.slice(0, 4).join(' ')}${f.error || f.warning ? `\n${f.error} error(s), ${f.warning} warning(s)` : ''}${x.stale ? '\nstale' : ''}${
    x.bridges.length ? `\nbridges: ${x.bridges.map((b) => b.name).join(', ')}` : ''}${x.tunnels.length ? `\ntunnels: ${x.tunnels.map((t) => t.name).join(', ')}` : ''}`;
  const cls = `host s-${status}`;
  if (compact) {
    return s('a', { href: hostHref(x.name), class: cls, dataset: { host: x.name, status } },
      s('title', {}, title), s('rect', { x: at.x, y: at.y, width: at.w, height: at.h, rx: 2 }));
  }
  const mark = { error: '✖ ', warning: '▲ ', stale: '◌ ', ok: '' }[status];
  return s('a', { href: hostHref(x.name), class: cls, dataset: { host: x.name, status } },
    s('title', {}, title),
    s('rect', { x: at.x, y: at.y, width: at.w, height: at.h, rx: 4 }),
    s('text', { class: 'name', x: at.x + 6, y: at.y + 16 }, `${mark}${short(x.name, 22)}`),
    chips(x, at));
}

function externalNode(e, at) {
  return s('g', { class: 'external', dataset: { name: e.name } }, s('title', {}, e.label),
    s('rect', { x: at.x, y: at.y, width: at.w, height: at.h, rx: 14 }), s('text', { x: at.x + 10, y: at.y + 19 }, `☁ ${short(e.label, 28)}`));
}

function box(b) {
  const label = b.kind === 'vpc' ? `${b.name === 'no VPC' ? b.name : `VPC ${b.name}`} · ${b.count} host${b.count === 1 ? '' : 's'}` : b.kind === 'subnet' ? `${b.name} · ${b.count}` : b.name;
  return s('g', { class: `group ${b.kind}`, dataset: b.kind === 'subnet' ? { subnet: b.name, vpc: b.vpc } : { group: b.name } },
    s('rect', { x: b.x, y: b.y, width: b.w, height: b.h, rx: 6 }),
    s('text', { x: b.x + 8, y: b.y + 15 }, short(label, Math.max(8, Math.floor(b.w / 7)))));
}

function picture(hosts, all, pairs, findings, detail, viewWidth) {
  const compact = hosts.length > COMPACT;
  const { broken, tunnels, externals } = edgesOf(hosts, all, pairs, findings);
  const { pos, boxes, width, height } = layout(groupHosts(hosts), externals, compact ? SMALL : FULL, hosts.length === all.length ? 'outside the fleet' : 'outside this view');
  const edgeLayer = s('g', { class: 'edges' });
  const show = (text) => mount(detail, text);
  for (const e of tunnels) {
    const a = pos.get(e.a);
    const b = pos.get(e.b);
    if (!a || !b) continue;
    edgeLayer.appendChild(s('path', { class: 'edge tunnel-edge', d: curve(a, b, -0.12), dataset: { from: e.a.name, to: e.b.name, kind: e.tunnel.kind } }, s('title', {}, e.label)));
  }
  for (const e of broken) {
    const a = pos.get(e.a);
    const b = pos.get(e.b);
    if (!a || !b) continue;
    const cause = `${e.pair.from} ↔ ${e.pair.to}: broken — ${e.pair.cause}`;
    const href = e.pair.findings.length ? findingHref(e.pair.findings[0]) : pathHref(e.pair.from, e.pair.to);
    // Hover or keyboard focus puts the cause in the panel beside the map, with a link to trace it.
    const explain = () => show(h('p', { class: 'cause', dataset: { from: e.pair.from, to: e.pair.to } }, '✗ ', cause, ' ', h('a', { class: 'trace-link', href: pathHref(e.pair.from, e.pair.to) }, 'trace the path →')));
    edgeLayer.appendChild(s('a', { href, class: 'edge-link', dataset: { from: e.pair.from, to: e.pair.to },
      onmouseover: () => explain(), onfocus: () => explain() },
    s('title', {}, cause),
    s('path', { class: 'edge broken', d: curve(a, b) }),
    s('path', { class: 'edge-hit', d: curve(a, b) })));
  }
  const nodeLayer = s('g', { class: 'nodes' });
  for (const x of hosts) nodeLayer.appendChild(hostNode(x, pos.get(x), compact));
  for (const e of externals) nodeLayer.appendChild(externalNode(e, pos.get(e)));
  const scale = state.zoom === 'fit' ? Math.min(1, viewWidth > 0 ? (viewWidth - 4) / width : 1) : state.zoom;
  const svg = s('svg', { class: `pic map${compact ? ' compact' : ''}`, id: 'topology', width: Math.ceil(width * scale), height: Math.ceil(height * scale), dataset: { scale: scale.toFixed(3) },
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`, role: 'img', 'aria-label': `topology of ${hosts.length} hosts` },
  s('g', { class: 'groups' }, boxes.map(box)), nodeLayer, edgeLayer);
  return { svg, scale, counts: { broken: broken.length, tunnels: tunnels.length, externals: externals.length } };
}

function matchesHost(x, search, query) {
  if (x.name.toLowerCase().includes(search.toLowerCase())) return true;
  return query ? holds(x.addresses, query) : x.addresses.some((a) => a.startsWith(search));
}

export async function renderMap(main, params) {
  const [{ hosts: all }, { pairs }, { findings }] = await Promise.all([getJson('/api/hosts'), getJson('/api/pairs'), getJson('/api/findings?severity=error&state=open')]);
  if (params.get('q') !== null) state.search = params.get('q');
  if (params.get('vpc') !== null) state.vpc = params.get('vpc');
  const vpcs = [...new Set(all.map((x) => x.vpc ?? 'no VPC'))].sort();
  if (state.vpc && !vpcs.includes(state.vpc)) state.vpc = '';
  const holder = h('div', { class: 'map-scroll', id: 'map-scroll' });
  const detail = h('aside', { class: 'map-detail', id: 'map-detail' }, h('p', { class: 'dim' }, 'Hover a red edge for the cause of the broken pair; click it for its finding. Click a host for its page.'));
  const count = h('span', { class: 'count', id: 'map-count' });
  let drawn = { hosts: [], nodes: [], counts: { broken: 0, tunnels: 0 }, scale: 1 };
  /** Light up the hosts the search matches (no redraw: a keystroke at 1,000 hosts only toggles classes). */
  const applySearch = () => {
    const search = state.search.trim();
    const query = parsePrefix(search);
    let matched = 0;
    let first;
    drawn.hosts.forEach((x, i) => {
      const m = search ? matchesHost(x, search, query) : undefined;
      drawn.nodes[i].classList.toggle('match', m === true);
      drawn.nodes[i].classList.toggle('unmatched', m === false);
      if (m) {
        matched++;
        first ??= drawn.nodes[i];
      }
    });
    const { broken, tunnels } = drawn.counts;
    count.textContent = `${drawn.hosts.length} hosts · ${broken} broken pair${broken === 1 ? '' : 's'} · ${tunnels} tunnel${tunnels === 1 ? '' : 's'}${search ? ` · ${matched} match${matched === 1 ? '' : 'es'}` : ''}`;
    if (first && typeof first.scrollIntoView === 'function') first.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  };
  const draw = () => {
    const hosts = state.vpc ? all.filter((x) => (x.vpc ?? 'no VPC') === state.vpc) : all;
    const { svg, counts, scale } = picture(hosts, all, pairs, findings, detail, holder.clientWidth);
    holder.replaceChildren(svg);
    drawn = { hosts, nodes: [...svg.querySelectorAll('a.host')], counts, scale };
    applySearch();
  };
  const search = h('input', { type: 'search', id: 'map-search', placeholder: 'host name, address or CIDR', value: state.search, 'aria-label': 'search the map',
    oninput: (e) => { state.search = e.target.value; applySearch(); } });
  const vpc = h('select', { id: 'map-vpc', 'aria-label': 'VPC', onchange: (e) => { state.vpc = e.target.value; draw(); } },
    h('option', { value: '' }, `all VPCs (${all.length} hosts)`), vpcs.map((v) => h('option', { value: v, selected: v === state.vpc }, `${v === 'no VPC' ? v : `VPC ${v}`} (${all.filter((x) => (x.vpc ?? 'no VPC') === v).length})`)));
  const zoom = (z) => () => { state.zoom = z === 'fit' ? 'fit' : Math.min(4, Math.max(0.1, drawn.scale * z)); draw(); };
  mount(main,
    h('div', { class: 'toolbar' }, h('h1', {}, 'Topology'), search, vpc,
      h('button', { type: 'button', id: 'map-zoom-out', title: 'zoom out', onclick: zoom(0.8) }, '−'),
      h('button', { type: 'button', id: 'map-zoom-fit', title: 'fit the width', onclick: zoom('fit') }, 'fit'),
      h('button', { type: 'button', id: 'map-zoom-in', title: 'zoom in', onclick: zoom(1.25) }, '+'), count),
    h('p', { class: 'legend' }, h('span', { class: 'key k-broken' }, '━ broken pair'), h('span', { class: 'key k-tunnel' }, '┅ tunnel'),
      h('span', { class: 'key' }, '■ bridge'), h('span', { class: 'key' }, '◆ tunnel device'), h('span', { class: 'key' }, '✖ error ▲ warning ◌ stale'), h('span', { class: 'key' }, '☁ outside the fleet')),
    h('div', { class: 'map-layout' }, holder, detail));
  draw();
  markRendered('map');
}
