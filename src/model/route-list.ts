/**
 * The routes of a snapshot, kept by column. A full Internet table is a million routes; a million
 * RouteRecord objects (with their origins and dst strings) cost ~300 bytes and most of the parse
 * time each, and a one-shot run reads a handful of them. So the plain IPv4 routes that make up the
 * bulk of a big table (`PREFIX [via V4] [dev D] ... [metric N]`) are kept as offsets into the
 * command's output plus the shared "tail" the parser read for them (via, dev, table, proto,
 * scope, src, metric, flags): 20 bytes of columns a route beside the text; every other route is a RouteRecord.
 *
 * `get(i)` gives route i as a RouteRecord, made on first use and then kept, so the same route is
 * always the same object; iteration, `filter`, `find` ... go through it. The column accessors
 * (`family`, `table`, `dev`, `prefixKey4` ...) answer without making records, for code that scans
 * the whole table (the simulator's tables, the checks' candidate searches). JSON gives the array
 * of records, so `--json`, bundles and the wire protocol are the same as with a plain array.
 */
import { parsePrefix, type Prefix } from '../net/address.js';
import type { RouteRecord, RouteType } from './records.js';

/** What a plain route line carries after its destination; shared by every line that ends alike. */
export interface RouteTail {
  /** The line's text after the destination (the parser compares later lines with it). */
  text: string;
  via: string | undefined;
  dev: string | undefined;
  table: string;
  proto: string | undefined;
  scope: string | undefined;
  src: string | undefined;
  metric: number | undefined;
  flags: string[];
}

const NO_NEXTHOPS: RouteRecord['nexthops'] = Object.freeze([]) as unknown as RouteRecord['nexthops'];
const INITIAL_CAPACITY = 1024;

/** A list of routes; see the file comment. Built by the ip-route parser or from records. */
export class RouteList implements Iterable<RouteRecord> {
  private n = 0;
  /** Record-backed routes (every route not kept by column) by index. */
  private readonly records = new Map<number, RouteRecord>();
  /** Records made for plain routes, by index; created on the first one. */
  private made: MadeRecords | null = null;
  /** Per route: index into `tails` for a plain route, -1 for a record-backed one. */
  private tailOf: Int32Array;
  /** Per plain route: destination as value * 64 + length. */
  private key4: Float64Array;
  /** Per plain route: where its line starts in its text, and the line's number. */
  private lineStart: Int32Array;
  private lineNo: Int32Array;
  /** Texts the routes were parsed from (plain routes point into them), and from which route index on each is used. */
  private readonly sourceTexts: string[] = [];
  private readonly textFrom: number[] = [];
  private readonly sources: (string | undefined)[] = [];
  private readonly tails: RouteTail[] = [];
  /** True while every route came from the texts (the parser's): the texts then say all there is. */
  private fromText = true;

  constructor(capacity = INITIAL_CAPACITY) {
    const c = Math.max(16, capacity);
    this.tailOf = new Int32Array(c);
    this.key4 = new Float64Array(c);
    this.lineStart = new Int32Array(c);
    this.lineNo = new Int32Array(c);
  }

  /** A list of these records (kept as they are). */
  static fromRecords(records: readonly RouteRecord[]): RouteList {
    const list = new RouteList(records.length);
    for (const r of records) list.addRecord(r);
    return list;
  }

  /** The routes of a snapshot whether it holds a RouteList or, parsed from JSON, a plain array. */
  static of(routes: RouteList | readonly RouteRecord[]): RouteList {
    return routes instanceof RouteList ? routes : RouteList.fromRecords(routes);
  }

  /** One list of several, in order (e.g. the IPv4 and the IPv6 routes of a host). */
  static concat(lists: readonly RouteList[]): RouteList {
    const out = new RouteList(lists.reduce((a, l) => a + l.n, 0));
    for (const l of lists) {
      const at = out.n;
      const tailBase = out.tails.length;
      for (let s = 0; s < l.sourceTexts.length; s++) {
        out.sourceTexts.push(l.sourceTexts[s]);
        out.textFrom.push(l.textFrom[s] + at);
        out.sources.push(l.sources[s]);
      }
      for (const t of l.tails) out.tails.push(t);
      out.tailOf.set(l.tailOf.subarray(0, l.n), at);
      out.key4.set(l.key4.subarray(0, l.n), at);
      out.lineStart.set(l.lineStart.subarray(0, l.n), at);
      out.lineNo.set(l.lineNo.subarray(0, l.n), at);
      for (let i = 0; i < l.n; i++) if (out.tailOf[at + i] >= 0) out.tailOf[at + i] += tailBase;
      for (const [i, r] of l.records) out.records.set(at + i, r);
      if (!l.fromText) out.fromText = false;
      if (l.made !== null) for (const [i, r] of l.made.entries()) out.cache().set(at + i, r);
      out.n += l.n;
    }
    return out;
  }

  get length(): number {
    return this.n;
  }

  // ---- building (the ip-route parser) -----------------------------------------------------------

  /** The text the plain routes added from now on point into. */
  addText(text: string, source?: string): void {
    this.sourceTexts.push(text);
    this.textFrom.push(this.n);
    this.sources.push(source);
  }

  /** Register a tail; returns its number. */
  addTail(tail: RouteTail): number {
    this.tails.push(tail);
    return this.tails.length - 1;
  }

  /**
   * A plain IPv4 route: the line starting at `start` of the current text, number `lineNumber`,
   * the rest tail number `tail`; its destination (value * 64 + length) is given as
   * keyHigh * 2^14 + keyLow, two small integers, so that no call boxes a number.
   */
  addPlain(start: number, lineNumber: number, keyHigh: number, keyLow: number, tail: number): void {
    const i = this.n;
    if (i === this.tailOf.length) this.grow();
    this.tailOf[i] = tail;
    this.key4[i] = keyHigh * 16384 + keyLow;
    this.lineStart[i] = start;
    this.lineNo[i] = lineNumber;
    this.n = i + 1;
  }

  /**
   * A route given as a record (kept as is; the list does not copy it). `parsedFromText`: the
   * parser's own record for a line of the current text (any other record makes `texts()` undefined).
   */
  addRecord(r: RouteRecord, parsedFromText = false): void {
    const i = this.n;
    if (i === this.tailOf.length) this.grow();
    this.tailOf[i] = -1;
    this.records.set(i, r);
    if (!parsedFromText) this.fromText = false;
    this.n = i + 1;
  }

  /**
   * The command outputs the routes were parsed from, with their source names, when they say
   * everything about the list (no route was added as a record from elsewhere); else undefined.
   */
  texts(): { source: string | undefined; text: string }[] | undefined {
    return this.fromText ? this.sourceTexts.map((text, k) => ({ source: this.sources[k], text })) : undefined;
  }

  /** Route i as a record the caller may change (a `nexthop` or `cache` line after it). */
  mutable(i: number): RouteRecord {
    if (this.tailOf[i] < 0) return this.records.get(i)!;
    const r = this.made?.get(i) ?? this.make(i);
    this.made?.delete(i);
    this.tailOf[i] = -1;
    this.records.set(i, r);
    return r;
  }

  /** Name the source of every route (origin.source), as the snapshot does per bundle file. */
  stampSource(source: string): void {
    for (let s = 0; s < this.sources.length; s++) this.sources[s] = source;
    const stamp = (r: RouteRecord): void => {
      const o = r.origin;
      // A fresh origin in the same key order: no out-of-object property store per record.
      r.origin = { lineNumber: o.lineNumber, text: o.text, source };
    };
    for (const r of this.records.values()) stamp(r);
    if (this.made !== null) for (const [, r] of this.made.entries()) stamp(r);
  }

  private grow(): void {
    const c = this.tailOf.length * 2;
    const more = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(c);
      b.set(a);
      return b;
    };
    this.tailOf = more(this.tailOf, (k) => new Int32Array(k));
    this.key4 = more(this.key4, (k) => new Float64Array(k));
    this.lineStart = more(this.lineStart, (k) => new Int32Array(k));
    this.lineNo = more(this.lineNo, (k) => new Int32Array(k));
  }

  private cache(): MadeRecords {
    this.made ??= new MadeRecords(() => this.n);
    return this.made;
  }

  // ---- records ------------------------------------------------------------------------------------

  /** Route i as a RouteRecord (the same object on every call). */
  get(i: number): RouteRecord {
    if (!(i >= 0 && i < this.n)) throw new RangeError(`route ${i} of ${this.n}`);
    if (this.tailOf[i] < 0) return this.records.get(i)!;
    const made = this.cache();
    let r = made.get(i);
    if (r === undefined) {
      r = this.make(i);
      made.set(i, r);
    }
    return r;
  }

  private make(i: number): RouteRecord {
    const t = this.tails[this.tailOf[i]];
    let s = this.sourceTexts.length - 1;
    while (s > 0 && this.textFrom[s] > i) s--;
    const text = this.sourceTexts[s];
    const source = this.sources[s];
    const start = this.lineStart[i];
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start && text.charCodeAt(end - 1) === 13) end--;
    const line = text.slice(start, end);
    const space = line.indexOf(' ');
    const dstText = space < 0 ? line : line.slice(0, space);
    const dst = dstText.indexOf('/') < 0 ? `${dstText}/32` : dstText;
    return {
      family: 4, type: 'unicast', dst, table: t.table, via: t.via, dev: t.dev, src: t.src, proto: t.proto,
      scope: t.scope, metric: t.metric, flags: t.flags, nexthops: NO_NEXTHOPS,
      origin: source === undefined ? { lineNumber: this.lineNo[i], text: line } : { lineNumber: this.lineNo[i], text: line, source },
    };
  }
  /** Every route as a record, in order (a new array). */
  toArray(): RouteRecord[] {
    const out = new Array<RouteRecord>(this.n);
    for (let i = 0; i < this.n; i++) out[i] = this.get(i);
    return out;
  }

  /** JSON.stringify gives the array of records. */
  toJSON(): RouteRecord[] {
    return this.toArray();
  }

  *[Symbol.iterator](): Iterator<RouteRecord> {
    for (let i = 0; i < this.n; i++) yield this.get(i);
  }

  filter(pred: (r: RouteRecord, i: number) => boolean): RouteRecord[] {
    const out: RouteRecord[] = [];
    for (let i = 0; i < this.n; i++) {
      const r = this.get(i);
      if (pred(r, i)) out.push(r);
    }
    return out;
  }

  find(pred: (r: RouteRecord, i: number) => boolean): RouteRecord | undefined {
    for (let i = 0; i < this.n; i++) {
      const r = this.get(i);
      if (pred(r, i)) return r;
    }
    return undefined;
  }

  some(pred: (r: RouteRecord, i: number) => boolean): boolean {
    return this.find(pred) !== undefined;
  }

  map<T>(fn: (r: RouteRecord, i: number) => T): T[] {
    const out = new Array<T>(this.n);
    for (let i = 0; i < this.n; i++) out[i] = fn(this.get(i), i);
    return out;
  }

  // ---- columns (no records made) ------------------------------------------------------------------

  /**
   * Indices of the routes of one family by table name, in listed order, leaving out those whose
   * flags `skip` accepts. Plain routes are decided once per shared tail, so a million-route table
   * costs one array read a route.
   */
  indicesByTable(family: 4 | 6, skip: (flags: readonly string[]) => boolean): Map<string, Int32Array> {
    const lists = new Map<string, { ids: Int32Array; n: number }>();
    const add = (table: string, i: number): void => {
      let l = lists.get(table);
      if (!l) lists.set(table, (l = { ids: new Int32Array(64), n: 0 }));
      if (l.n === l.ids.length) {
        const more = new Int32Array(l.ids.length * 2);
        more.set(l.ids);
        l.ids = more;
      }
      l.ids[l.n++] = i;
    };
    // Per tail: its table when its routes are kept, null when skipped (plain routes are IPv4).
    const tailTable: (string | null | undefined)[] = new Array(this.tails.length);
    for (let i = 0; i < this.n; i++) {
      const t = this.tailOf[i];
      if (t >= 0) {
        let table = tailTable[t];
        if (table === undefined) tailTable[t] = table = family === 4 && !skip(this.tails[t].flags) ? this.tails[t].table : null;
        if (table !== null) add(table, i);
        continue;
      }
      const r = this.records.get(i)!;
      if (r.family === family && !skip(r.flags)) add(r.table, i);
    }
    const out = new Map<string, Int32Array>();
    for (const [table, l] of lists) out.set(table, l.ids.subarray(0, l.n));
    return out;
  }

  /** True when route i is a plain IPv4 unicast route kept by column (no nexthops, no extras). */
  isPlain(i: number): boolean {
    return this.tailOf[i] >= 0;
  }

  family(i: number): 4 | 6 {
    return this.tailOf[i] >= 0 ? 4 : this.records.get(i)!.family;
  }

  type(i: number): RouteType {
    return this.tailOf[i] >= 0 ? 'unicast' : this.records.get(i)!.type;
  }

  table(i: number): string {
    const t = this.tailOf[i];
    return t >= 0 ? this.tails[t].table : this.records.get(i)!.table;
  }

  /** The route's `dev` (not its nexthops'). */
  dev(i: number): string | undefined {
    const t = this.tailOf[i];
    return t >= 0 ? this.tails[t].dev : this.records.get(i)!.dev;
  }

  via(i: number): string | undefined {
    const t = this.tailOf[i];
    return t >= 0 ? this.tails[t].via : this.records.get(i)!.via;
  }

  metric(i: number): number | undefined {
    const t = this.tailOf[i];
    return t >= 0 ? this.tails[t].metric : this.records.get(i)!.metric;
  }

  tos(i: number): string | undefined {
    return this.tailOf[i] >= 0 ? undefined : this.records.get(i)!.tos;
  }

  flags(i: number): readonly string[] {
    const t = this.tailOf[i];
    return t >= 0 ? this.tails[t].flags : this.records.get(i)!.flags;
  }

  /** True when the route has multipath nexthops (never for a plain route). */
  hasNexthops(i: number): boolean {
    return this.tailOf[i] < 0 && this.records.get(i)!.nexthops.length > 0;
  }

  /** Destination text (canonical, as RouteRecord.dst). */
  dst(i: number): string {
    return this.tailOf[i] >= 0 ? this.get(i).dst : this.records.get(i)!.dst;
  }

  /** Destination length, or -1 when route i is not a plain route (read its dst). */
  plainPrefixLength(i: number): number {
    return this.tailOf[i] >= 0 ? this.key4[i] % 64 : -1;
  }

  /** For a plain route its destination as value * 64 + length; -1 for any other route. */
  plainKey4(i: number): number {
    return this.tailOf[i] >= 0 ? this.key4[i] : -1;
  }

  /** The destination as a Prefix (null when unreadable); no record is made for a plain route. */
  prefix(i: number): Prefix | null {
    if (this.tailOf[i] >= 0) {
      const key = this.key4[i];
      const len = key % 64;
      return { family: 4, value: (key - len) / 64, len };
    }
    const r = this.records.get(i)!;
    return parsePrefix(r.dst, r.family);
  }

  /** True when the route is a default route (0.0.0.0/0, ::/0). */
  isDefault(i: number): boolean {
    if (this.tailOf[i] >= 0) return this.key4[i] === 0;
    const d = this.records.get(i)!.dst;
    return d === '0.0.0.0/0' || d === '::/0';
  }
}

/**
 * The records made for a list's plain routes, by index. A Map while few are made: a check reads a
 * handful of a big table's routes, and a slot a route (8 MB for a million) held one record. An
 * array by index once more than one route in sixteen has its record (a walk over every route).
 */
class MadeRecords {
  private map: Map<number, RouteRecord> | null = new Map();
  private slots: (RouteRecord | undefined)[] | null = null;

  constructor(private readonly count: () => number) {}

  get(i: number): RouteRecord | undefined {
    return this.slots !== null ? this.slots[i] : this.map!.get(i);
  }

  set(i: number, r: RouteRecord): void {
    if (this.slots !== null) {
      this.slots[i] = r;
      return;
    }
    const map = this.map!;
    map.set(i, r);
    const n = Math.max(this.count(), i + 1);
    if (map.size * 16 <= n) return;
    // Holey, not filled: V8 keeps even a million-slot holey array in fast elements.
    const slots = new Array<RouteRecord | undefined>(n);
    for (const [k, v] of map) slots[k] = v;
    this.slots = slots;
    this.map = null;
  }

  delete(i: number): void {
    if (this.slots !== null) this.slots[i] = undefined;
    else this.map!.delete(i);
  }

  /** [index, record] of every record made. */
  *entries(): Generator<[number, RouteRecord]> {
    if (this.map !== null) {
      yield* this.map;
      return;
    }
    const slots = this.slots!;
    for (let i = 0; i < slots.length; i++) {
      const r = slots[i];
      if (r !== undefined) yield [i, r];
    }
  }
}
