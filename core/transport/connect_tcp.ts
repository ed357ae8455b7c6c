/**
 * Opens a TCP connection to a daemon with a deadline and `TCP_NODELAY`, with one-line errors:
 * the first step of a data-plane dial and of every client TLS connection.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { TimeoutError, withDeadline } from "./deadline.ts";

/**
 * Connects within `timeoutMs`.
 *
 * Requires `--allow-net` for the address.
 *
 * @example Usage
 * ```ts ignore
 * import { connectTcp } from "./connect_tcp.ts";
 * const conn = await connectTcp("127.0.0.1", 9031, { timeoutMs: 10_000 });
 * conn.close();
 * ```
 *
 * @param hostname Host name or IP address (IPv6 without brackets).
 * @param port TCP port.
 * @param options The longest wait, and what errors call the attempt (default
 *   `reach HOST:PORT`).
 * @throws {TimeoutError} When the connection is not made in time.
 * @throws {Error} "Cannot reach HOST:PORT: connection refused" and the like, one line.
 * @returns The connection.
 */
export async function connectTcp(
  hostname: string,
  port: number,
  options: { timeoutMs: number; action?: string },
): Promise<Deno.TcpConn> {
  const where = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  const { timeoutMs, action = `reach ${where}` } = options;
  const abort = new AbortController();
  const connecting = Deno.connect({ hostname, port, transport: "tcp", signal: abort.signal });
  let conn: Deno.TcpConn;
  try {
    conn = await withDeadline(connecting, {
      timeoutMs,
      action,
      onTimeout: () => {
        abort.abort();
        connecting.then((late) => late.close(), () => {});
      },
    });
  } catch (error) {
    if (error instanceof TimeoutError) throw error;
    const why = error instanceof Deno.errors.ConnectionRefused
      ? "connection refused"
      : describeError(error);
    throw new Error(`Cannot ${action}: ${why}`, { cause: error });
  }
  try {
    conn.setNoDelay(true);
  } catch { /* not fatal */ }
  return conn;
}
