/**
 * Carries the destination's completed actions back to the source, in batches, when the source
 * asked for them (`-v` or `-i` on a push, where the destination is the daemon).
 *
 * @module
 */

import type { FramePort } from "./frames.ts";
import type { TransferEvent } from "./planner.ts";

/** Most events in one frame. */
export const EVENTS_PER_FRAME = 256;

/** Longest time an event waits for its batch to fill while the session goes on. */
export const EVENTS_EVERY_MS = 250;

/**
 * Collects events and sends them as `events` frames: a full batch at once, a partial one after
 * {@linkcode EVENTS_EVERY_MS}, everything when the session ends.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { localPortPair } from "./frames.ts";
 * import { EventRelay } from "./event_relay.ts";
 * const [a, b] = localPortPair();
 * const relay = new EventRelay(a);
 * relay.push({ action: "mkdir", path: "x", itemize: "cd+++++++++" });
 * await relay.flush(true);
 * deepStrictEqual(await b.next(), {
 *   type: "events",
 *   events: [{ action: "mkdir", path: "x", itemize: "cd+++++++++" }],
 * });
 * ```
 */
export class EventRelay {
  readonly #port: FramePort;
  #events: TransferEvent[] = [];
  #lastSent = performance.now();

  /**
   * Creates a relay.
   * @param port The channel to the source.
   */
  constructor(port: FramePort) {
    this.#port = port;
  }

  /**
   * Queues one event (the planner's `onEvent`).
   * @param event The completed action.
   */
  readonly push = (event: TransferEvent): void => {
    this.#events.push(event);
  };

  /**
   * Sends what is due: with `all`, every queued event; otherwise a batch once it is full or has
   * waited {@linkcode EVENTS_EVERY_MS}.
   * @param all Send everything (the session is ending).
   */
  async flush(all: boolean): Promise<void> {
    const due = all || this.#events.length >= EVENTS_PER_FRAME ||
      (this.#events.length > 0 && performance.now() - this.#lastSent >= EVENTS_EVERY_MS);
    if (!due) return;
    const events = this.#events;
    this.#events = [];
    this.#lastSent = performance.now();
    for (let i = 0; i < events.length; i += EVENTS_PER_FRAME) {
      await this.#port.send({ type: "events", events: events.slice(i, i + EVENTS_PER_FRAME) });
    }
  }
}
