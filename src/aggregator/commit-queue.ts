/**
 * Group commits: reports that arrive while the store is busy (or in the same turn of the event
 * loop) are written in one transaction, and each is acknowledged only after that transaction
 * has committed. Idle, a batch is one report and costs one event-loop turn; under load the
 * batches grow by themselves (everything that arrived during the previous commit), so the cost
 * of a commit is shared instead of queueing reports behind one another. One commit runs at a
 * time, so the store sees reports in arrival order.
 */

/** Called with no argument once the item is committed, or with the error that kept it out. */
export type Committed = (err?: Error) => void;

interface Entry<T> {
  key: string;
  item: T;
  done: Committed[];
}

export interface CommitQueueOptions<T> {
  /** Writes the items in one transaction, all or none; rejects when it cannot. */
  commit(items: T[]): Promise<void>;
  /** Runs after a successful commit for each item, in order, before its callbacks. */
  committed(item: T): void;
  /** A batch holds at most this many items. */
  maxBatch?: number;
}

export class CommitQueue<T> {
  private entries: Entry<T>[] = [];
  /** Waiting and committing items by key (a resend joins its original). */
  private readonly byKey = new Map<string, Entry<T>>();
  private scheduled = false;
  /** The commit under way, if any. */
  private running: Promise<void> | undefined;
  private readonly maxBatch: number;

  constructor(private readonly options: CommitQueueOptions<T>) {
    this.maxBatch = options.maxBatch ?? 512;
  }

  /** Items waiting for or in a commit. */
  get size(): number {
    return this.byKey.size;
  }

  /** Whether an item under `key` waits for its commit; if so `done` is called with it. */
  join(key: string, done: Committed): boolean {
    const e = this.byKey.get(key);
    if (e) e.done.push(done);
    return e !== undefined;
  }

  add(key: string, item: T, done: Committed): void {
    const e = { key, item, done: [done] };
    this.entries.push(e);
    this.byKey.set(key, e);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.running || this.entries.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  /** Commit everything waiting now (after the commit under way); resolves when the queue is empty. */
  async flush(): Promise<void> {
    while (this.running || this.entries.length > 0) {
      if (this.running) await this.running;
      else await this.run();
    }
  }

  private run(): Promise<void> {
    if (this.running || this.entries.length === 0) return this.running ?? Promise.resolve();
    const batch = this.entries.splice(0, this.maxBatch);
    this.running = this.commitBatch(batch).finally(() => {
      this.running = undefined;
      this.schedule();
    });
    return this.running;
  }

  private async commitBatch(batch: Entry<T>[]): Promise<void> {
    try {
      await this.options.commit(batch.map((e) => e.item));
    } catch {
      // One item the store refuses must not fail the others: commit each on its own.
      for (const e of batch) {
        try {
          await this.options.commit([e.item]);
        } catch (err) {
          this.forget(e);
          for (const d of e.done) d(err as Error);
          continue;
        }
        this.finish(e);
      }
      return;
    }
    for (const e of batch) this.finish(e);
  }

  private forget(e: Entry<T>): void {
    if (this.byKey.get(e.key) === e) this.byKey.delete(e.key);
  }

  private finish(e: Entry<T>): void {
    this.forget(e);
    this.options.committed(e.item);
    for (const d of e.done) d();
  }
}
