/**
 * An unbounded async queue that several consumers can drain concurrently.
 *
 * @module
 */

/**
 * A FIFO queue: producers `push`, then `close`; any number of consumers iterate it with
 * `for await`, each item going to exactly one consumer.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { AsyncQueue } from "./queue.ts";
 * const q = new AsyncQueue<number>();
 * q.push(1);
 * q.push(2);
 * q.close();
 * const seen: number[] = [];
 * for await (const n of q) seen.push(n);
 * deepStrictEqual(seen, [1, 2]);
 * ```
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #head = 0;
  #waiters: ((result: IteratorResult<T>) => void)[] = [];
  #closed = false;

  /** Items waiting to be taken. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds an item, handing it straight to a waiting consumer when there is one.
   * @param item The item.
   * @throws {Error} When the queue is closed.
   */
  push(item: T): void {
    if (this.#closed) throw new Error("Cannot push to a closed queue");
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: item, done: false });
    else this.#items.push(item);
  }

  /** Ends the queue: consumers finish once the remaining items are taken. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  /**
   * Takes the next item.
   * @returns The next item, or `done` once the queue is closed and empty.
   */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head++] as T;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Iterates the queue (each item goes to one consumer).
   * @returns An async iterator.
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
