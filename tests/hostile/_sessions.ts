/**
 * Raw sessions for the hostile-peer tests: a push opened frame by frame as a fake client, to
 * learn the data port or to play a source that misbehaves.
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { Operation, Role, type ServerFrame } from "../../proto/gen/blit_pb.ts";
import { type ConnectionSecurity, openSecureChannel } from "../../core/client_security.ts";
import { parseHostAddress } from "../../core/endpoint.ts";
import type { Frame, ManifestItem, Need } from "../../core/session/frames.ts";
import { type DataConn, dialDataPlane } from "../../core/transport/data_plane.ts";
import type { StreamFramePort } from "../../core/transport/stream_port.ts";
import { openRawSession, type RawSession } from "../_daemon.ts";

/** The modification time of every fake entry. */
const T = Date.UTC(2024, 0, 2, 3, 4, 5);

/** How the CLI flags `clientArgs` trust the daemon. */
function securityOf(clientArgs: string[]): ConnectionSecurity {
  return clientArgs.includes("--no-tls") ? { tls: false } : {};
}

/** A raw push session after the daemon's Accept. */
export interface AcceptedPush extends RawSession {
  /** The daemon's Accept. */
  accept: Extract<ServerFrame["frame"], { case: "accept" }>["value"];
}

/**
 * Opens a push (the daemon as DESTINATION) into `mod/<path>/` and waits for the Accept.
 *
 * @example Usage
 * ```ts ignore
 * const push = await openPush(daemon.address, "probe");
 * console.log(push.accept.dataPort);
 * push.call.cancel();
 * push.client.close();
 * ```
 *
 * @param address `127.0.0.1:PORT`.
 * @param path The directory in the module.
 * @param forceGrpcData Ask for payload in the control stream.
 * @param clientArgs The CLI flags used against this daemon (`--no-tls` is honoured).
 * @throws {Error} When the daemon does not accept.
 * @returns The session.
 */
export async function openPush(
  address: string,
  path: string,
  forceGrpcData = false,
  clientArgs: string[] = [],
): Promise<AcceptedPush> {
  const raw = await openRawSession(address, securityOf(clientArgs));
  try {
    await raw.open({
      role: Role.DESTINATION,
      module: "mod",
      path: `${path}/`,
      operation: Operation.COPY,
      forceGrpcData,
    });
    const reply = await raw.port.nextRaw(10_000);
    equal(reply?.case, "accept", `the daemon accepted the push: ${reply?.case}`);
    if (reply?.case !== "accept") throw new Error("unreachable");
    return { ...raw, accept: reply.value };
  } catch (error) {
    raw.client.close();
    throw error;
  }
}

/**
 * Opens `count` TCP connections to `port` that never send a byte.
 *
 * @example Usage
 * ```ts ignore
 * const silent = await openSilent(dataPort, 200);
 * for (const conn of silent) conn.close();
 * ```
 *
 * @param port The port on 127.0.0.1.
 * @param count How many.
 * @returns The connections (close them).
 */
export async function openSilent(port: number, count: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i++) {
    conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  return conns;
}

/**
 * Waits until the peer closed `conn` (end of stream or reset), or `timeoutMs` passed.
 *
 * @example Usage
 * ```ts ignore
 * const closedAfter = await closedWithin(conn, 5000); // null: still open
 * ```
 *
 * @param conn A connection that is not read elsewhere.
 * @param timeoutMs Longest wait.
 * @returns Milliseconds until it closed, or `null` when it is still open.
 */
export async function closedWithin(conn: Deno.Conn, timeoutMs: number): Promise<number | null> {
  const started = performance.now();
  const buffer = new Uint8Array(4096);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"open">((resolve) =>
    timer = setTimeout(() => resolve("open"), timeoutMs)
  );
  const closed = (async (): Promise<"closed"> => {
    try {
      while ((await conn.read(buffer)) !== null) { /* discard */ }
    } catch { /* reset counts as closed */ }
    return "closed";
  })();
  const result = await Promise.race([closed, timeout]);
  clearTimeout(timer);
  return result === "closed" ? performance.now() - started : null;
}

/**
 * Plays the start of a SOURCE: a directory root (contents only), one group of files of the
 * given sizes (`f0`, `f1`, …), the manifest's end; then reads the destination's frames until
 * its `needEnd`.
 *
 * @example Usage
 * ```ts ignore
 * const needs = await announceFiles(push.port, [1024 * 1024]);
 * ```
 *
 * @param port The client side of the session.
 * @param sizes One file per size.
 * @throws {Error} When the destination sends something else than needs (an abort, say).
 * @returns The needs, in the order asked.
 */
export async function announceFiles(
  port: StreamFramePort<ServerFrame>,
  sizes: number[],
): Promise<(Need & { size: number })[]> {
  const entries: ManifestItem[] = sizes.map((size, i) => ({
    id: i + 1,
    path: `f${i}`,
    kind: "file",
    size,
    mtimeMs: T,
    mode: 0o644,
  }));
  await port.send({
    type: "root",
    root: {
      entry: { path: "", kind: "dir", size: 0, mtimeMs: T, mode: 0o755 },
      name: "src",
      contentsOnly: true,
    },
  });
  await port.send({ type: "manifest", groups: [{ dir: "", entries, complete: true }] });
  await port.send({ type: "manifestEnd", scanComplete: true, entries: sizes.length, bytes: 0 });
  const needs: (Need & { size: number })[] = [];
  while (true) {
    const frame: Frame | null = await port.next(10_000);
    if (frame === null) throw new Error("the daemon closed the session before its needEnd");
    if (frame.type === "needEnd") return needs;
    if (frame.type !== "needs") throw new Error(`expected needs, got ${JSON.stringify(frame)}`);
    for (const need of frame.needs) needs.push({ ...need, size: sizes[need.id - 1] ?? 0 });
  }
}

/**
 * Dials a session's data plane the way the CLI does (pinned TLS when the daemon uses TLS) and
 * presents its token.
 *
 * @example Usage
 * ```ts ignore
 * const conn = await dialData(daemon.address, push.accept);
 * ```
 *
 * @param address `127.0.0.1:PORT` of the control plane.
 * @param accept The daemon's Accept.
 * @returns The connection, after the token.
 */
export async function dialData(
  address: string,
  accept: { dataPort: number; sessionToken: Uint8Array },
): Promise<DataConn> {
  const channel = await openSecureChannel(parseHostAddress(address), {}, () => {});
  return await dialDataPlane(
    { hostname: "127.0.0.1", port: accept.dataPort, token: accept.sessionToken },
    channel.connectData ? { connect: channel.connectData } : {},
  );
}
