// DOM building for the dashboard. Everything an agent sends is untrusted: it only ever becomes
// a text node or an attribute value through this helper, never HTML (no innerHTML anywhere).

/**
 * h('a', { href: '#/x', class: 'c', title: 't', onclick: fn }, 'text', childNode, [more])
 * Strings and numbers become text nodes; null/undefined/false children are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = Boolean(v);
    else if (k === 'href') el.setAttribute('href', safeHref(v));
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Only in-page links: a javascript: or foreign URL built from agent data never becomes a link. */
function safeHref(v) {
  const s = String(v);
  return s.startsWith('#') || s.startsWith('/') ? s : '#';
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * s('rect', { x: 1, y: 2, class: 'c', onclick: fn }, 'text', child): an SVG element, built like
 * h(): strings become text nodes (a `title` child is the hover text), never markup.
 */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'href') el.setAttribute('href', safeHref(v));
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** Replace a node's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** "#/host/NAME" with the name encoded, so any host name is a safe fragment. */
export function hostHref(name) {
  return `#/host/${encodeURIComponent(name)}`;
}

export function findingHref(key) {
  return `#/finding/${encodeURIComponent(key)}`;
}

export function pathHref(from, to, port) {
  const q = new URLSearchParams({ from, to });
  if (port) q.set('port', port);
  return `#/path?${q}`;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(iso, now = Date.now()) {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function when(iso) {
  return iso ? h('time', { datetime: iso, title: iso }, ago(iso)) : '–';
}

const SEVERITY_SYMBOL = { error: '✖', warning: '▲', info: 'ℹ' };

/** A severity badge: colour plus a symbol and the word, so colour is never the only signal. */
export function severityBadge(severity, count) {
  const label = count === undefined ? severity : `${count}`;
  return h('span', { class: `sev sev-${severity}`, title: severity }, `${SEVERITY_SYMBOL[severity] ?? '?'} ${label}`);
}

const STATE_SYMBOL = { open: '●', resolved: '✔', acknowledged: '☑', silenced: '🔕' };

export function stateBadge(state) {
  return h('span', { class: `state state-${state}` }, `${STATE_SYMBOL[state] ?? ''} ${state}`);
}

const KERNEL_SYMBOL = { confirmed: '✔', 'not-seen': '○', contradicted: '✖', unavailable: '–' };
const KERNEL_TITLE = {
  confirmed: 'the kernel confirms it: its route answer agrees, or a counter tied to the cause moved',
  'not-seen': 'counters tied to the cause were watched and did not move',
  contradicted: "the kernel's route answer differs from hostcheck's simulation",
  unavailable: 'the kernel could not be asked about it',
};

/** Whether the kernel agrees with a finding (docs/kernel.md): symbol and word, never colour alone. */
export function kernelBadge(kernel) {
  const status = kernel?.status ?? 'unavailable';
  return h('span', { class: `kernel kernel-${status}`, title: KERNEL_TITLE[status] ?? status }, `${KERNEL_SYMBOL[status] ?? ''} ${status}`);
}

/**
 * Record when a view finished building its DOM and when the browser next got to run after
 * painting it (window.__hcRendered[view] = { built, painted }, ms since navigation start): the
 * bench's render time (bench/dashboard.ts). Tests check content, never these.
 */
export function markRendered(view) {
  const marks = (window.__hcRendered ??= {});
  const mark = { built: performance.now() };
  marks[view] = mark;
  requestAnimationFrame(() => setTimeout(() => { mark.painted = performance.now(); }, 0));
}

export function errorBox(err) {
  return h('p', { class: 'error-box', role: 'alert' }, `⚠ ${err instanceof Error ? err.message : String(err)}`);
}
