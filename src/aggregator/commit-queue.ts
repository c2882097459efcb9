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
  /**
   * The sequence an item belongs to (a host's reports). Once one item of a group fails, the
   * group's later items fail too, those waiting and those added until `reopen`: a later report
   * committed after an earlier one failed would leave a gap the welcome's ackedSeq hides for good.
   */
  group?(item: T): string;
}

/** Why a group's later items are not committed. */
export class EarlierItemFailedError extends Error {
  /** `earlier`: why the group's earlier report was not stored. */
  constructor(earlier: Error) {
    super(`an earlier report was not stored (${earlier.message.slice(0, 120)}): not committed after it`);
  }
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

  /** Groups that failed: their items are refused until reopened. */
  private readonly failed = new Map<string, Error>();

  add(key: string, item: T, done: Committed): void {
    const failed = this.options.group && this.failed.get(this.options.group(item));
    if (failed) return done(new EarlierItemFailedError(failed));
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

  /** A group failed before: its items are accepted again (a new connection starts from what the store holds). */
  reopen(group: string): void {
    this.failed.delete(group);
  }

  private async commitBatch(batch: Entry<T>[]): Promise<void> {
    try {
      await this.options.commit(batch.map((e) => e.item));
    } catch {
      // One item the store refuses must not fail the others: commit each on its own; but never an
      // item after a failed one of its group.
      for (const e of batch) {
        const failed = this.options.group && this.failed.get(this.options.group(e.item));
        if (failed) {
          this.fail(e, new EarlierItemFailedError(failed));
          continue;
        }
        try {
          await this.options.commit([e.item]);
        } catch (err) {
          this.fail(e, err as Error);
          if (this.options.group) this.failGroup(this.options.group(e.item), err as Error);
          continue;
        }
        this.finish(e);
      }
      return;
    }
    for (const e of batch) this.finish(e);
  }

  /**
   * Mark a group failed and fail its items still waiting (also when one of its items failed
   * before it reached the queue: the store could not be asked whether it was new).
   */
  failGroup(group: string, err: Error): void {
    this.failed.set(group, err);
    const waiting = this.entries.filter((e) => this.options.group!(e.item) === group);
    if (waiting.length === 0) return;
    this.entries = this.entries.filter((e) => this.options.group!(e.item) !== group);
    for (const e of waiting) this.fail(e, new EarlierItemFailedError(err));
  }

  private fail(e: Entry<T>, err: Error): void {
    this.forget(e);
    for (const d of e.done) d(err);
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
