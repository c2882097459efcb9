/**
 * Group commits: reports that arrive in the same turn of the event loop (everything the sockets
 * delivered before Node next checks timers and I/O) are written in one SQLite transaction, and
 * each is acknowledged only after that transaction has committed. Idle, a batch is one report
 * and costs one event-loop turn; under load the batches grow by themselves, so the cost of a
 * commit is shared instead of queueing reports behind one another.
 */

/** Called with no argument once the item is committed, or with the error that kept it out. */
export type Committed = (err?: Error) => void;

interface Entry<T> {
  item: T;
  done: Committed[];
}

export interface CommitQueueOptions<T> {
  /** Writes the items in one transaction, all or none; throws when it cannot. */
  commit(items: T[]): void;
  /** Runs after a successful commit for each item, in order, before its callbacks. */
  committed(item: T): void;
  /** A batch is committed at once when it reaches this many items. */
  maxBatch?: number;
}

export class CommitQueue<T> {
  private entries: Entry<T>[] = [];
  private readonly byKey = new Map<string, Entry<T>>();
  private scheduled = false;
  private readonly maxBatch: number;

  constructor(private readonly options: CommitQueueOptions<T>) {
    this.maxBatch = options.maxBatch ?? 512;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Whether an item under `key` waits for its commit; if so `done` is called with it. */
  join(key: string, done: Committed): boolean {
    const e = this.byKey.get(key);
    if (e) e.done.push(done);
    return e !== undefined;
  }

  add(key: string, item: T, done: Committed): void {
    const e = { item, done: [done] };
    this.entries.push(e);
    this.byKey.set(key, e);
    if (this.entries.length >= this.maxBatch) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Commit everything waiting now. */
  flush(): void {
    this.scheduled = false;
    const batch = this.entries;
    if (batch.length === 0) return;
    this.entries = [];
    this.byKey.clear();
    try {
      this.options.commit(batch.map((e) => e.item));
    } catch {
      // One item the store refuses must not fail the others: commit each on its own.
      for (const e of batch) {
        try {
          this.options.commit([e.item]);
        } catch (err) {
          for (const d of e.done) d(err as Error);
          continue;
        }
        this.finish(e);
      }
      return;
    }
    for (const e of batch) this.finish(e);
  }

  private finish(e: Entry<T>): void {
    this.options.committed(e.item);
    for (const d of e.done) d();
  }
}
