// Reachability matrix: hosts × hosts, each cell ok / broken / unknown in colour plus a symbol
// (colour-blind safe), the cause on hover and, from the API's own verdict, on click. Hosts are
// grouped by VPC: above LARGE hosts the grid shows one VPC's rows against one VPC's columns
// (pickers choose), so 200+ hosts stay usable; the grid scrolls with sticky headers.
// Broken pairs come from /api/pairs; unknown follows the API's rule (stale or incomplete host).
import { getJson } from '../api.js';
import { errorBox, findingHref, h, hostHref, mount, pathHref } from '../dom.js';

const SYMBOL = { ok: '✓', broken: '✗', unknown: '?' };
/** Up to this many hosts the whole fleet is one grid (≤ 62,500 cells). */
const LARGE = 250;

function localVerdict(a, b, broken) {
  const p = broken.get(`${a.name}\u0000${b.name}`);
  if (p) return p;
  for (const x of [a, b]) if (x.stale) return { verdict: 'unknown', cause: `${x.name} is stale: silent since ${x.lastSeen}` };
  const incomplete = [a, b].filter((x) => !x.complete).map((x) => x.name);
  if (incomplete.length) return { verdict: 'unknown', cause: `incomplete collection on ${incomplete.join(' and ')}` };
  return { verdict: 'ok', cause: 'no finding on either host blocks this pair' };
}

async function showCell(panel, from, to) {
  mount(panel, h('p', {}, `${from} → ${to}: asking the aggregator…`));
  try {
    const { pairs } = await getJson(`/api/pairs?${new URLSearchParams({ from, to })}`);
    const p = pairs[0];
    mount(panel, h('div', { class: `cell-detail v-${p.verdict}`, id: 'cell-detail', dataset: { verdict: p.verdict } },
      h('h2', {}, h('span', { class: `sym v-${p.verdict}` }, SYMBOL[p.verdict]), ' ', h('a', { href: hostHref(from) }, from), ' → ', h('a', { href: hostHref(to) }, to), `: ${p.verdict}`),
      h('p', { class: 'cause' }, p.cause),
      p.findings.length ? h('ul', {}, p.findings.map((k) => h('li', {}, h('a', { href: findingHref(k) }, k)))) : null,
      h('p', {}, h('a', { href: pathHref(from, to), class: 'trace-link' }, `trace the path ${from} → ${to}`))));
  } catch (err) {
    mount(panel, errorBox(err));
  }
}

function picker(id, label, groups, chosen, allowAll, onPick) {
  return h('select', { id, 'aria-label': label, onchange: (e) => onPick(e.target.value) },
    allowAll ? h('option', { value: '' }, `${label}: all hosts`) : null,
    [...groups].map(([g, list]) => h('option', { value: g, selected: g === chosen }, `${label}: ${g} (${list.length})`)));
}

/** Cells are bare elements (no per-cell title): 60,000 of them must build fast; hover fills the title. */
function grid(rows, cols, broken, groups) {
  const counts = { ok: 0, broken: 0, unknown: 0 };
  const verdicts = new Map();
  const head = h('tr', {}, h('th', { class: 'corner' }, 'from ↓ to →'), cols.map((c) => h('th', { class: 'col', title: `${c.name}${c.vpc ? ` (${c.vpc})` : ''}` }, h('span', {}, c.name))));
  const body = document.createDocumentFragment();
  let lastGroup;
  for (const a of rows) {
    const g = a.vpc ?? 'no VPC';
    if (g !== lastGroup && groups.size > 1) body.appendChild(h('tr', { class: 'group-row' }, h('th', { colspan: cols.length + 1 }, g)));
    lastGroup = g;
    const tr = document.createElement('tr');
    tr.appendChild(h('th', { class: 'row', title: a.name }, a.name));
    for (const b of cols) {
      const td = document.createElement('td');
      if (a.name === b.name) {
        td.className = 'self';
        td.textContent = '·';
      } else {
        const v = localVerdict(a, b, broken);
        counts[v.verdict]++;
        td.className = `cell v-${v.verdict}`;
        td.textContent = SYMBOL[v.verdict];
        td.tabIndex = 0;
        td.dataset.from = a.name;
        td.dataset.to = b.name;
        td.dataset.verdict = v.verdict;
        if (v.verdict !== 'ok') verdicts.set(td, v);
      }
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  const colgroup = h('colgroup', {}, h('col', { class: 'row-head' }));
  for (let i = 0; i < cols.length; i++) colgroup.appendChild(h('col', { class: 'c' }));
  const table = h('table', { class: 'matrix', id: 'matrix' }, colgroup, h('thead', {}, head), h('tbody', {}, body));
  table.addEventListener('mouseover', (e) => {
    const td = e.target.closest('td.cell');
    if (td && !td.title) {
      const v = verdicts.get(td) ?? { verdict: 'ok', cause: 'no finding on either host blocks this pair' };
      td.title = `${td.dataset.from} → ${td.dataset.to}: ${v.verdict} — ${v.cause}`;
    }
  });
  return { table, counts };
}

export async function renderMatrix(main, params) {
  const [{ hosts }, { pairs }] = await Promise.all([getJson('/api/hosts'), getJson('/api/pairs')]);
  const broken = new Map();
  for (const p of pairs) {
    broken.set(`${p.from}\u0000${p.to}`, p);
    broken.set(`${p.to}\u0000${p.from}`, { ...p, from: p.to, to: p.from });
  }
  const groups = new Map();
  for (const x of [...hosts].sort((a, b) => (a.vpc ?? '~').localeCompare(b.vpc ?? '~') || a.name.localeCompare(b.name))) {
    const g = x.vpc ?? 'no VPC';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(x);
  }
  const large = hosts.length > LARGE && groups.size > 1;
  const first = [...groups.keys()][0];
  const pick = (name) => (groups.has(params.get(name)) ? params.get(name) : large ? first : '');
  const rowGroup = pick('rows');
  const colGroup = pick('cols');
  const all = [...groups.values()].flat();
  const rows = rowGroup ? groups.get(rowGroup) : all;
  const cols = colGroup ? groups.get(colGroup) : all;
  const go = (key, value) => {
    const q = new URLSearchParams(params);
    q.delete('from');
    q.delete('to');
    if (value) q.set(key, value); else q.delete(key);
    location.hash = `#/matrix?${q}`;
  };
  const { table, counts } = grid(rows, cols, broken, groups);
  const panel = h('aside', { class: 'cell-panel', id: 'cell-panel' }, h('p', { class: 'dim' }, 'Hover a cell for its cause; click it for the aggregator’s verdict.'));
  const open = (e) => {
    const td = e.target.closest('td.cell');
    if (!td || (e.type !== 'click' && e.key !== 'Enter')) return;
    // The chosen pair goes into the address (no new history entry, no re-render), so a live
    // refresh shows it again instead of dropping it, and the link can be shared.
    const q = new URLSearchParams(params);
    q.set('from', td.dataset.from);
    q.set('to', td.dataset.to);
    history.replaceState(null, '', `#/matrix?${q}`);
    showCell(panel, td.dataset.from, td.dataset.to);
  };
  table.addEventListener('click', open);
  table.addEventListener('keydown', open);
  mount(main,
    h('div', { class: 'toolbar' }, h('h1', {}, 'Reachability'),
      picker('matrix-rows', 'rows', groups, rowGroup, !large, (v) => go('rows', v)),
      picker('matrix-cols', 'columns', groups, colGroup, !large, (v) => go('cols', v)),
      h('span', { class: 'legend' }, h('span', { class: 'sym v-ok' }, '✓'), ` ok ${counts.ok} `, h('span', { class: 'sym v-broken' }, '✗'), ` broken ${counts.broken} `,
        h('span', { class: 'sym v-unknown' }, '?'), ` unknown ${counts.unknown}`),
      large ? h('span', { class: 'dim' }, `${hosts.length} hosts: one VPC against one VPC at a time`) : null),
    h('div', { class: 'matrix-layout' }, h('div', { class: 'matrix-scroll' }, table), panel));
  const from = params.get('from');
  const to = params.get('to');
  if (from && to) showCell(panel, from, to);
}
