/**
 * CommitQueue on its own, over a real SQLite file: reports added in one event-loop turn are one
 * transaction; each is acknowledged only once it is committed (visible to another connection);
 * one item the database refuses fails alone (grouped: with the later items of its host); `join` waits for the same commit; a batch holds at
 * most maxBatch items; what arrives during a commit is the next batch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitQueue } from '../../src/aggregator/commit-queue.js';

interface Item { seq: number; host: string }

let dir: string;
let writer: Database.Database;
let reader: Database.Database;
/** Every commit() call: the seqs it was given, and whether it committed. */
let calls: { seqs: number[]; ok: boolean }[];
let committedOrder: number[];

function queue(maxBatch?: number, grouped = false): CommitQueue<Item> {
  const insert = writer.prepare('INSERT INTO reports (host, seq) VALUES (?, ?)');
  const many = writer.transaction((items: Item[]) => { for (const i of items) insert.run(i.host, i.seq); });
  return new CommitQueue<Item>({
    commit: async (items) => {
      const call = { seqs: items.map((i) => i.seq), ok: false };
      calls.push(call);
      many(items);
      call.ok = true;
    },
    committed: (item) => committedOrder.push(item.seq),
    maxBatch,
    ...(grouped && { group: (item: Item) => item.host }),
  });
}

/** Rows another connection sees (what is committed, not what is in a transaction). */
const visible = (): number[] => (reader.prepare('SELECT seq FROM reports ORDER BY seq').all() as { seq: number }[]).map((r) => r.seq);

/** add() as a promise of the ack, recording what was visible when the ack came. */
function add(q: CommitQueue<Item>, item: Item): Promise<{ err?: Error; seenAtAck: number[] }> {
  return new Promise((resolve) => q.add(`${item.host}:${item.seq}`, item, (err) => resolve({ err, seenAtAck: visible() })));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hostcheck-commitq-'));
  const file = join(dir, 'q.db');
  writer = new Database(file);
  writer.pragma('journal_mode = WAL');
  // (host, seq) unique: a repeated report is refused by the database itself.
  writer.exec('CREATE TABLE reports (host TEXT NOT NULL, seq INTEGER NOT NULL, UNIQUE (host, seq))');
  reader = new Database(file, { readonly: true });
  calls = [];
  committedOrder = [];
});

afterEach(() => {
  reader.close();
  writer.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('CommitQueue', () => {
  it('commits what arrives in one turn as one transaction, and acks each only after the commit', async () => {
    const q = queue();
    const acks = [add(q, { seq: 1, host: 'a' }), add(q, { seq: 2, host: 'b' }), add(q, { seq: 3, host: 'c' })];
    expect(q.size).toBe(3);
    expect(visible()).toEqual([]);
    const results = await Promise.all(acks);
    expect(calls).toEqual([{ seqs: [1, 2, 3], ok: true }]);
    for (const r of results) {
      expect(r.err).toBeUndefined();
      expect(r.seenAtAck).toEqual([1, 2, 3]);
    }
    expect(committedOrder).toEqual([1, 2, 3]);
    expect(q.size).toBe(0);
  });

  it('a later turn is a new batch', async () => {
    const q = queue();
    await add(q, { seq: 1, host: 'a' });
    await Promise.all([add(q, { seq: 2, host: 'a' }), add(q, { seq: 3, host: 'a' })]);
    expect(calls.map((c) => c.seqs)).toEqual([[1], [2, 3]]);
  });

  it('one item the database refuses fails alone; the others of its batch commit', async () => {
    const q = queue();
    await add(q, { seq: 7, host: 'dup' });
    const [a, dup, b] = await Promise.all([add(q, { seq: 1, host: 'x' }), add(q, { seq: 7, host: 'dup' }), add(q, { seq: 2, host: 'y' })]);
    expect(dup.err?.message).toMatch(/UNIQUE constraint failed/);
    expect(a.err).toBeUndefined();
    expect(b.err).toBeUndefined();
    // The batch was tried whole (rolled back), then item by item.
    expect(calls.slice(1)).toEqual([
      { seqs: [1, 7, 2], ok: false },
      { seqs: [1], ok: true },
      { seqs: [7], ok: false },
      { seqs: [2], ok: true },
    ]);
    expect(visible()).toEqual([1, 2, 7]);
    expect(committedOrder).toEqual([7, 1, 2]);
  });

  it('grouped: after an item of a host fails, none of that host\'s later items is committed until reopen', async () => {
    const q = queue(2, true);
    await add(q, { seq: 1, host: 'a' });
    // a:1 again is refused by the database; a:2 (same batch) and a:3 (the next one) must not be stored after it.
    const [dup, a2, b1, a3] = await Promise.all([add(q, { seq: 1, host: 'a' }), add(q, { seq: 2, host: 'a' }), add(q, { seq: 1, host: 'b' }), add(q, { seq: 3, host: 'a' })]);
    expect(dup.err?.message).toMatch(/UNIQUE constraint failed/);
    for (const r of [a2, a3]) expect(r.err?.message).toMatch(/^an earlier report was not stored \(UNIQUE constraint failed/);
    expect(b1.err).toBeUndefined();
    expect((reader.prepare("SELECT seq FROM reports WHERE host = 'a'").all() as { seq: number }[]).map((r) => r.seq)).toEqual([1]);
    expect((await add(q, { seq: 4, host: 'a' })).err?.message).toMatch(/^an earlier report was not stored/);
    // A new connection starts again from what is stored.
    q.reopen('a');
    expect((await add(q, { seq: 2, host: 'a' })).err).toBeUndefined();
    expect((reader.prepare("SELECT seq FROM reports WHERE host = 'a' ORDER BY seq").all() as { seq: number }[]).map((r) => r.seq)).toEqual([1, 2]);
  });

  it('join() waits for the commit of the item already queued under the key', async () => {
    const q = queue();
    const first = add(q, { seq: 5, host: 'h' });
    const joined = new Promise<{ err?: Error; seenAtAck: number[] }>((resolve) => {
      expect(q.join('h:5', (err) => resolve({ err, seenAtAck: visible() }))).toBe(true);
    });
    expect(q.join('h:6', () => undefined)).toBe(false);
    const [a, b] = await Promise.all([first, joined]);
    expect(a).toEqual({ err: undefined, seenAtAck: [5] });
    expect(b).toEqual({ err: undefined, seenAtAck: [5] });
    expect(calls).toHaveLength(1);
    // Once committed, the key no longer waits.
    expect(q.join('h:5', () => undefined)).toBe(false);
  });

  it('a batch holds at most maxBatch items; the rest is the next batch', async () => {
    const q = queue(2);
    const all = [add(q, { seq: 1, host: 'a' }), add(q, { seq: 2, host: 'a' }), add(q, { seq: 3, host: 'a' })];
    expect(visible()).toEqual([]);
    await Promise.all(all);
    expect(calls.map((x) => x.seqs)).toEqual([[1, 2], [3]]);
  });

  it('what arrives while a commit runs waits for it and is committed as the next batch', async () => {
    const q = queue();
    const first = add(q, { seq: 1, host: 'a' });
    // Let the first commit start (it resolves on a later microtask), then add two more.
    await new Promise((r) => setImmediate(r));
    const more = [add(q, { seq: 2, host: 'a' }), add(q, { seq: 3, host: 'b' })];
    await Promise.all([first, ...more]);
    expect(calls.map((x) => x.seqs)).toEqual([[1], [2, 3]]);
    await q.flush();
    expect(q.size).toBe(0);
  });
});
