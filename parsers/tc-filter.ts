/**
 * tc-filter: the tc filters on each device's ingress and egress, as hostcheck collects them —
 * a `dev DEV ingress|egress` line, then what `tc filter show dev DEV ingress|egress` printed:
 *
 *     dev eth0 ingress
 *     filter protocol all pref 49152 bpf chain 0
 *     filter protocol all pref 49152 bpf chain 0 handle 0x1 cil_from_netdev-eth0 direct-action not_in_hw id 105 name cil_from_netdev tag 614b434cd8324ecc jited
 *     filter parent ffff: protocol ip pref 49152 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 not_in_hw
 *       match 0a090909/ffffffff at 12
 *     	action order 1: gact action drop
 *
 * A line with a handle (`handle`, or u32's `fh X::Y`) is one filter; the lines indented under it
 * add its actions. A classifier's header line (no handle) and u32's hash-table lines are skipped.
 */
import type { TcFilterRecord } from '../src/model/datapath.js';
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';

export function parse(text: string): ParseResult<TcFilterRecord> {
  return guarded(text, (t) => {
    const records: TcFilterRecord[] = [];
    const warnings: ParseWarning[] = [];
    let dev: string | undefined;
    let direction: TcFilterRecord['direction'] | undefined;
    let last: TcFilterRecord | undefined;
    splitLines(t).forEach((line, i) => {
      const lineNumber = i + 1;
      const tokens = line.trim().split(/\s+/).filter(Boolean);
      if (tokens.length === 0) return;
      if (tokens[0] === 'dev' && tokens.length === 3 && (tokens[2] === 'ingress' || tokens[2] === 'egress')) {
        dev = tokens[1];
        direction = tokens[2];
        last = undefined;
        return;
      }
      if (tokens[0] === 'filter') {
        if (dev === undefined || direction === undefined) {
          warnings.push({ lineNumber, text: line, reason: 'filter line before a "dev DEV ingress|egress" line' });
          return;
        }
        const f = filterLine(tokens, dev, direction, { lineNumber, text: line });
        if (f !== undefined) {
          records.push(f);
          last = f;
        } else last = undefined;
        return;
      }
      if (last === undefined) return;
      // Lines under a filter: match keys, `action order N: gact action drop`, mirred redirects.
      const action = actionOf(tokens);
      if (action !== undefined && !last.actions.includes(action)) last.actions.push(action);
    });
    return { records, warnings };
  });
}

/** A filter with a handle, or undefined for a classifier's or hash table's header line. */
function filterLine(tokens: string[], dev: string, direction: TcFilterRecord['direction'], origin: TcFilterRecord['origin']): TcFilterRecord | undefined {
  let kind: string | undefined;
  let handle = false;
  const f: TcFilterRecord = { dev, direction, kind: '', actions: [], origin };
  for (let j = 1; j < tokens.length; j++) {
    const t = tokens[j];
    const v = tokens[j + 1];
    if (t === 'protocol' && v !== undefined) { f.protocol = v; j++; }
    else if (t === 'pref' && v !== undefined && /^\d+$/.test(v)) { f.pref = Number(v); j++; }
    else if (t === 'parent' || t === 'chain' || t === 'order' || t === 'key' || t === 'ht' || t === 'bkt' || t === 'classid' || t === 'flowid') j++;
    else if (t === 'handle') { handle = true; j++; }
    else if (t === 'fh' && v !== undefined) { handle = /::/.test(v) || !v.endsWith(':'); j++; }
    else if (kind === undefined && /^[a-z][a-z0-9_]*$/.test(t) && !['not_in_hw', 'in_hw', 'skip_hw', 'skip_sw', 'direct-action', 'jited', 'divisor'].includes(t)) kind = t;
  }
  if (kind === undefined || !handle) return undefined;
  f.kind = kind;
  if (kind === 'bpf') {
    const prog: NonNullable<TcFilterRecord['program']> = { directAction: tokens.includes('direct-action') || tokens.includes('da') };
    const h = tokens.indexOf('handle');
    const object = h >= 0 ? tokens[h + 2] : undefined;
    if (object !== undefined && !['direct-action', 'not_in_hw', 'in_hw', 'id', 'name', 'tag'].includes(object)) prog.object = object;
    for (let j = 0; j < tokens.length - 1; j++) {
      if (tokens[j] === 'id' && /^\d+$/.test(tokens[j + 1])) prog.id = Number(tokens[j + 1]);
      else if (tokens[j] === 'name') prog.name = tokens[j + 1];
      else if (tokens[j] === 'tag') prog.tag = tokens[j + 1];
    }
    f.program = prog;
  }
  const action = actionOf(tokens);
  if (action !== undefined) f.actions.push(action);
  return f;
}

/** The action a line names: drop/shot, redirect/mirror (mirred), pass/ok, pipe, nat, pedit, skbedit. */
function actionOf(tokens: string[]): string | undefined {
  const a = tokens.indexOf('action');
  if (tokens[0] === 'action' || (a >= 0 && tokens[a + 1] !== undefined)) {
    const rest = tokens.slice(a + 1);
    if (rest.includes('mirred')) return rest.some((t) => /Redirect/i.test(t)) ? 'redirect' : 'mirror';
    for (const t of rest) {
      if (t === 'drop' || t === 'shot') return 'drop';
      if (t === 'pass' || t === 'ok') return 'pass';
      if (t === 'nat' || t === 'pedit' || t === 'skbedit' || t === 'vlan' || t === 'tunnel_key' || t === 'police' || t === 'bpf') return t;
    }
  }
  return undefined;
}

export const parser: Parser<TcFilterRecord> = {
  name: 'tc-filter',
  description: 'tc filter show dev DEV ingress|egress for every device, each under a "dev DEV ingress|egress" line',
  parse,
};
