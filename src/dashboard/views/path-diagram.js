// The path as a picture (SVG): one box per hop, left to right, across hosts (🖥) and cloud
// nodes (☁: VPN gateways, VPC routers); the rule or route that decided each hop written under
// it; arrows carry the device and gateway the packet left by. The break is marked: a drop or
// blackhole is a red box with ⛔ and the leg's detail, a loop an arrow back to where it repeats,
// a packet that left every known node an arrow out of the picture. Text nodes only.
import { hostHref, s } from '../dom.js';

const BOX = { w: 190, h: 54 };
const GAP = 96;
const TOP = 26;
const NOTE_LINE = 14;
const NOTE_CHARS = 30;
const NOTE_LINES = 6;
const ACTION_SYMBOL = { send: '➜', forward: '➜', deliver: '✓', drop: '⛔', blackhole: '⛔', encrypt: '🔒', leave: '↗' };
const KIND_SYMBOL = { host: '', 'vpn-gateway': '☁ ', 'vpc-router': '☁ ' };

/** Break a note into lines of about `n` characters at spaces (a long word is cut). */
export function wrap(text, n = NOTE_CHARS, max = NOTE_LINES) {
  const lines = [];
  let line = '';
  for (const word of String(text).split(/\s+/).filter(Boolean)) {
    for (let w = word; w; ) {
      const room = line ? n - line.length - 1 : n;
      if (w.length <= room) {
        line = line ? `${line} ${w}` : w;
        w = '';
      } else if (!line) {
        lines.push(w.slice(0, n));
        w = w.slice(n);
      } else {
        lines.push(line);
        line = '';
      }
    }
  }
  if (line) lines.push(line);
  return lines.length > max ? [...lines.slice(0, max - 1), `${lines[max - 1].slice(0, n - 1)}…`] : lines;
}

function arrowHead(id, cls) {
  return s('marker', { id, class: cls, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z' }));
}

/**
 * An SVG of one leg. `id` keeps the arrow markers of two legs on one page apart.
 */
export function legDiagram(leg, id) {
  const hops = leg.hops;
  const broken = leg.outcome === 'dropped' || leg.outcome === 'blackhole';
  const cycle = new Set(leg.outcome === 'loop' ? leg.cycle ?? [] : []);
  const last = hops.length - 1;
  const tail = broken || leg.outcome === 'left' || leg.outcome === 'delivered' ? 1 : 0;
  const loopPad = leg.outcome === 'loop' ? GAP : 0;
  const lines = Math.max(1, ...hops.map((hp) => wrap(hp.note).length), wrap(leg.detail ?? '').length);
  const noteHeight = lines * NOTE_LINE + 10;
  const loopSpace = leg.outcome === 'loop' ? 34 : 0;
  const width = (hops.length + tail) * (BOX.w + GAP) + 20 + loopPad;
  const height = TOP + BOX.h + noteHeight + loopSpace + 14;
  const x = (i) => 10 + loopPad + i * (BOX.w + GAP);
  const marker = `arrow-${id}`;
  const children = [s('defs', {}, arrowHead(marker, 'arrowhead'), arrowHead(`${marker}-bad`, 'arrowhead bad'))];
  hops.forEach((hop, i) => {
    const isBreak = broken && i === last;
    const inLoop = cycle.has(hop.node);
    const cls = `hop a-${hop.action}${isBreak ? ' break' : ''}${inLoop ? ' in-loop' : ''}${hop.kind === 'host' ? '' : ' cloud'}`;
    const label = `${KIND_SYMBOL[hop.kind] ?? ''}${hop.node}`;
    const body = [
      s('title', {}, `${i + 1}. ${hop.node} (${hop.kind})${hop.iif ? ` in ${hop.iif}` : ''}: ${hop.action} — ${hop.note}`),
      s('rect', { x: x(i), y: TOP, width: BOX.w, height: BOX.h, rx: hop.kind === 'host' ? 5 : 18 }),
      s('text', { class: 'node', x: x(i) + 8, y: TOP + 18 }, label.length > 26 ? `${label.slice(0, 25)}…` : label),
      s('text', { class: 'act', x: x(i) + 8, y: TOP + 36 }, `${i + 1}. ${ACTION_SYMBOL[hop.action] ?? ''} ${hop.action}${hop.iif ? ` · in ${hop.iif}` : ''} · ttl ${hop.ttl}`),
      inLoop ? s('text', { class: 'loop-mark', x: x(i) + BOX.w - 22, y: TOP + 18 }, '↻') : null,
    ];
    const note = s('text', { class: 'rule', x: x(i), y: TOP + BOX.h + 16 }, wrap(hop.note).map((line, n) => s('tspan', { x: x(i), dy: n === 0 ? 0 : NOTE_LINE }, line)));
    children.push(s('g', { class: cls, dataset: { node: hop.node, action: hop.action, index: i } },
      hop.kind === 'host' ? s('a', { href: hostHref(hop.node) }, body) : s('g', {}, body), note));
    const next = i < last || tail;
    if (!next) return;
    const bad = isBreak;
    const cut = (t) => (t.length > 16 ? `${t.slice(0, 15)}…` : t);
    children.push(s('g', { class: `hop-arrow${bad ? ' bad' : ''}` },
      s('title', {}, [hop.dev ? `dev ${hop.dev}` : '', hop.via ? `via ${hop.via}` : ''].filter(Boolean).join(' ') || hop.action),
      s('line', { x1: x(i) + BOX.w + 2, y1: TOP + BOX.h / 2, x2: x(i + 1) - 3, y2: TOP + BOX.h / 2, 'marker-end': `url(#${bad ? `${marker}-bad` : marker})` }),
      hop.dev ? s('text', { class: 'via', x: x(i) + BOX.w + 5, y: TOP + BOX.h / 2 - 6 }, cut(`dev ${hop.dev}`)) : null,
      hop.via ? s('text', { class: 'via', x: x(i) + BOX.w + 5, y: TOP + BOX.h / 2 + 14 }, cut(`via ${hop.via}`)) : null));
  });
  const end = x(hops.length);
  if (broken) {
    children.push(s('g', { class: 'break-mark', dataset: { outcome: leg.outcome } },
      s('title', {}, leg.detail ?? leg.outcome),
      s('rect', { x: end, y: TOP, width: BOX.w, height: BOX.h, rx: 5 }),
      s('text', { class: 'node', x: end + 8, y: TOP + 20 }, `✗ ${leg.outcome === 'blackhole' ? 'blackholed' : 'dropped'} here`),
      s('text', { class: 'rule', x: end, y: TOP + BOX.h + 16 }, wrap(leg.detail ?? '').map((line, n) => s('tspan', { x: end, dy: n === 0 ? 0 : NOTE_LINE }, line)))));
  } else if (leg.outcome === 'left') {
    children.push(s('g', { class: 'left-mark' }, s('title', {}, leg.detail ?? 'left every reporting host'),
      s('text', { class: 'node', x: end + 8, y: TOP + BOX.h / 2 + 4 }, '↗ left the known fleet'),
      s('text', { class: 'rule', x: end, y: TOP + BOX.h + 16 }, wrap(leg.detail ?? '').map((line, n) => s('tspan', { x: end, dy: n === 0 ? 0 : NOTE_LINE }, line)))));
  } else if (leg.outcome === 'delivered') {
    children.push(s('g', { class: 'delivered-mark' }, s('text', { class: 'node', x: end + 8, y: TOP + BOX.h / 2 + 4 }, `✓ delivered to ${leg.dst}`)));
  } else if (leg.outcome === 'loop' && leg.cycle?.length) {
    // The arrow back: from the last hop to the first hop of the repeating nodes.
    const first = hops.findIndex((hp) => hp.node === leg.cycle[0]);
    // It runs through the gaps between boxes, under the notes, so it crosses no text.
    const mid = TOP + BOX.h / 2;
    const right = x(last) + BOX.w + GAP / 2;
    const left = x(Math.max(0, first)) - GAP / 2 + 8;
    const yb = height - 12;
    children.push(s('g', { class: 'loop-arrow' },
      s('title', {}, `loop: ${[...leg.cycle, leg.cycle[0]].join(' → ')} — repeats until the TTL runs out`),
      s('path', { d: `M${x(last) + BOX.w + 2},${mid} L${right},${mid} L${right},${yb} L${left},${yb} L${left},${mid} L${x(Math.max(0, first)) - 3},${mid}`, 'marker-end': `url(#${marker}-bad)` }),
      s('text', { x: left + 8, y: yb - 5 }, `↻ loops back to ${leg.cycle[0].length > 40 ? `${leg.cycle[0].slice(0, 39)}…` : leg.cycle[0]} until the TTL runs out`)));
  }
  return s('svg', { class: `pic path-diagram outcome-${leg.outcome}`, width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${leg.src} → ${leg.dst}: ${leg.outcome}`, dataset: { outcome: leg.outcome } },
    s('text', { class: 'leg-title', x: 10, y: 16 }, `${leg.src} → ${leg.dst}`), ...children);
}
