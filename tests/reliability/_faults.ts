/**
 * Helpers of the fault tests: a fixed free port (so a restarted server comes back where the
 * client looks), waiting for a condition, and what a destination holds (temporaries and files
 * whose bytes differ from the source).
 *
 * @module
 */

import { walkTree } from "./_tree.ts";
import { inspectTemporaryAt } from "../../core/tree.ts";

/**
 * A TCP port that was free a moment ago on 127.0.0.1.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { freePort } from "./_faults.ts";
 * ok(freePort() > 0);
 * ```
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Polls until `condition` holds.
 *
 * @example Usage
 * ```ts
 * import { waitUntil } from "./_faults.ts";
 * let n = 0;
 * await waitUntil("n reaches 3", () => ++n >= 3, 1000);
 * ```
 *
 * @param what Named in the error.
 * @param condition Checked every 50 ms.
 * @param timeoutMs Longest wait.
 * @throws {Error} When the time is up.
 */
export async function waitUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** What a destination holds, compared with its source. */
export interface DestinationState {
  /** Relative paths of blit temporaries (`.blit-tmp-…`, `.blit-partial-…`) in it. */
  temporaries: string[];
  /** Bytes in those temporaries. */
  temporaryBytes: number;
  /** Relative paths of files at their final name whose bytes differ from the source's. */
  wrong: string[];
  /** Files at their final name equal to the source's. */
  complete: number;
}

/**
 * Compares a destination with its source: a file at its final name must be whole (the same
 * bytes as the source), whatever happened to the transfer.
 *
 * @example Usage
 * ```ts ignore
 * const state = await inspectDestination(`${dir}/src`, `${dir}/mod/dst`);
 * ```
 *
 * @param source The source tree.
 * @param destination The destination tree (may be missing).
 * @returns The state.
 */
export async function inspectDestination(
  source: string,
  destination: string,
): Promise<DestinationState> {
  const state: DestinationState = { temporaries: [], temporaryBytes: 0, wrong: [], complete: 0 };
  for await (const { path, size } of walkTree(destination)) {
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (name.startsWith(".blit-tmp") || name.startsWith(".blit-partial")) {
      state.temporaries.push(path);
      state.temporaryBytes += size;
      continue;
    }
    const expected = await Deno.readFile(`${source}/${path}`).catch(() => null);
    const actual = await Deno.readFile(`${destination}/${path}`);
    if (expected !== null && sameBytes(expected, actual)) state.complete++;
    else state.wrong.push(path);
  }
  return state;
}

/**
 * The size of the largest blit temporary under a directory (0 when there is none).
 *
 * @example Usage
 * ```ts ignore
 * await waitUntil("a payload is on its way", async () => await largestTemporary(dst) > 1e6, 30_000);
 * ```
 *
 * @param dir The directory.
 * @returns Bytes.
 */
export async function largestTemporary(dir: string): Promise<number> {
  let largest = 0;
  for await (const { path, size } of walkTree(dir)) {
    if (path.includes(".blit-tmp") || path.includes(".blit-partial")) {
      largest = Math.max(largest, size);
    }
  }
  return largest;
}

/**
 * The bytes of the temporaries under a directory that are still held: every in-flight
 * temporary, and a partial file only while a process holds its lock (a released one stays for
 * the next run to resume).
 *
 * @example Usage
 * ```ts ignore
 * await settle(() => heldTemporaryBytes(dst), (bytes) => bytes === 0, 20_000);
 * ```
 *
 * @param dir The directory.
 * @returns Bytes.
 */
export async function heldTemporaryBytes(dir: string): Promise<number> {
  let held = 0;
  for await (const { path, size } of walkTree(dir)) {
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (name.startsWith(".blit-tmp")) held += size;
    else if (name.startsWith(".blit-partial")) {
      const facts = inspectTemporaryAt(`${dir}/${path}`);
      if (facts?.locked) held += size;
    }
  }
  return held;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
