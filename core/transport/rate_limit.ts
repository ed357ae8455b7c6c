/**
 * `--bwlimit` on the data plane: a session's data connections held to one pace.
 *
 * @module
 */

import type { SharedPace } from "../shared_pace.ts";
import type { MeteredConn } from "./wire_meter.ts";

/**
 * Wraps a connection so that its reads and writes, together with those of every other
 * connection on the same pace, stay within its rate. Each call moves at most
 * {@linkcode SharedPace.sliceBytes}, so no single wait is long.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { SharedPace } from "../shared_pace.ts";
 * import { limitConn } from "./rate_limit.ts";
 * const conn = limitConn({
 *   read: () => Promise.resolve(0),
 *   write: (p: Uint8Array) => Promise.resolve(p.length),
 *   close: () => {},
 * }, SharedPace.create(1_000_000));
 * strictEqual(await conn.write(new Uint8Array(1_000_000)), 250_000);
 * ```
 *
 * @param conn The connection.
 * @param pace The session's pace.
 * @returns The limited connection.
 */
export function limitConn(conn: MeteredConn, pace: SharedPace): MeteredConn {
  const slice = pace.sliceBytes;
  const limited: MeteredConn = {
    read: async (p) => {
      const n = await conn.read(p.byteLength > slice ? p.subarray(0, slice) : p);
      if (n !== null) await pace.wait(n);
      return n;
    },
    write: async (p) => {
      await pace.wait(Math.min(p.byteLength, slice));
      return await conn.write(p.byteLength > slice ? p.subarray(0, slice) : p);
    },
    close: () => conn.close(),
  };
  if (conn.closeWrite) limited.closeWrite = () => conn.closeWrite!();
  if (conn.handshake) limited.handshake = () => conn.handshake!();
  return limited;
}
