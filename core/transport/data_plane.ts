/**
 * The raw TCP data plane of a transfer session. The daemon listens on an ephemeral port and grants
 * each session a random 32-byte token; the client dials, writes the token first, and then records
 * (see `records.ts`) flow from the SOURCE side to the DESTINATION side, whichever end dialled.
 *
 * - {@linkcode DataPlaneListener}: the daemon's listener; routes each connection to the session
 *   whose token it presents and answers it with one byte ({@linkcode TOKEN_ACCEPTED}), and closes
 *   any other without a reply. A connection has a short deadline to present its token, and
 *   connections that have not yet done so cannot crowd out those that do: when the handshake
 *   slots are full the oldest waiting connection gives its slot up.
 * - {@linkcode dialDataPlane}: the client's side of the handshake; it waits for the daemon's
 *   answer, so a connection the daemon refused fails here and the client can fall back to the
 *   control stream before it sends anything.
 * - {@linkcode sendPayloads} / {@linkcode receivePayloads}: the SOURCE and DESTINATION loops of
 *   one connection; small files travel in shards (their bytes back to back), large ones as streamed `file` records.
 *
 * Every network wait has an idle deadline, every announced length is capped before allocating,
 * and a file that changes while it is sent never reaches the destination as a wrong copy.
 *
 * @module
 */

import { describeError, TransferInterruptedError } from "../errors.ts";
import { withDeadline } from "./deadline.ts";
import { COPY_RUN_BYTES, encodeDelta } from "../delta/encode_delta.ts";
import { DeltaRebuilder } from "../delta/rebuild_delta.ts";
import { EventLoopTurns, writeFully, YIELD_EVERY_BYTES } from "../file_write.ts";
import { DELTA_CAPS, type Signature, type SignatureShape } from "../delta/signature.ts";
import {
  type ByteSink,
  type ByteSource,
  encodeDeltaInstruction,
  FILE_STATUS,
  type FileStatus,
  ProtocolError,
  RecordReader,
  RecordWriter,
} from "./records.ts";
import { type PackedShard, packShard, unpackShard } from "./shard.ts";
import { fillFromMemory } from "../copy_job.ts";
import { connectTcp } from "./connect_tcp.ts";
import { sleep } from "../timer.ts";

/** Length of a session token in bytes. */
export const TOKEN_BYTES = 32;

/** The byte the daemon answers a connection whose token it accepted (ASCII ACK). */
export const TOKEN_ACCEPTED = 0x06;

/** Options for {@linkcode DataPlaneListener.listen}. */
export interface DataPlaneListenerOptions {
  /**
   * How long a new connection may take to present its token (and, with TLS, complete its
   * handshake) before it is closed. A client writes its token right after connecting.
   * @default {3000}
   */
  tokenTimeoutMs?: number;
  /**
   * Connections allowed to be in the token handshake at once; when a new one arrives while
   * they are all taken, the one that has waited longest is closed to make room.
   * @default {128}
   */
  maxPendingHandshakes?: number;
  /**
   * The same, per peer address: a new connection from an address that already has this many
   * waiting makes room by closing that address's oldest one, never another address's.
   * @default {32}
   */
  maxPendingPerAddress?: number;
  /** Whether a peer address may connect at all (`hosts_allow` / `hosts_deny`), on accept. */
  allowed?: (address: string) => boolean;
}

/** TLS for {@linkcode DataPlaneListener.listen}: the daemon's certificate and key (PEM). */
export interface DataPlaneTls {
  /** Certificate chain, PEM. */
  cert: string;
  /** Private key, PEM. */
  key: string;
}

/**
 * A data-plane connection as the payload code uses it: `Deno.Conn` satisfies it, and so does a
 * client's pinned TLS connection (`core/transport/tls_client.ts`).
 */
export type DataConn = ByteSource & ByteSink;

/** One session's grant on a {@linkcode DataPlaneListener}. */
export interface DataPlaneSession {
  /** The random token the client must write first (send it in `Accept.session_token`). */
  readonly token: Uint8Array;
  /** The connections that presented the token, in arrival order; ends when the session closes. */
  readonly connections: AsyncIterable<DataConn>;
  /**
   * Waits for the next connection of this session.
   * @param timeoutMs Longest wait; `TimeoutError` after it.
   * @returns The connection, or `null` once the session is closed.
   */
  accept(timeoutMs?: number): Promise<DataConn | null>;
  /** Revokes the token; connections not yet taken are closed (taken ones stay open). */
  close(): void;
  /**
   * Revokes the token and closes every connection of the session, taken ones included: the
   * session is over (its control stream failed), so pending reads and writes end at once.
   */
  abort(): void;
}

/** Options of {@linkcode DataPlaneListener.openSession}. */
export interface DataPlaneSessionOptions {
  /**
   * Connections the session takes at most; later ones presenting its token are refused.
   * @default {Infinity}
   */
  maxConnections?: number;
}

/**
 * The daemon's data-plane listener: one TCP port shared by all sessions. A connection must write
 * the 32-byte token of an open session within `tokenTimeoutMs`; tokens are compared in constant
 * time, and a connection with a wrong token, a short one or none is closed without any reply and
 * counted in {@linkcode DataPlaneListener.refusedConnections}; an accepted one is answered with
 * {@linkcode TOKEN_ACCEPTED}. Silent connections cannot hold the handshake slots: each waits at
 * most `tokenTimeoutMs`, and when the slots (all of them, or an address's share) are full the
 * oldest waiting one is closed for the newcomer — a real client presents its token within one
 * round trip, so it is never the oldest for long. A failed `accept()` (EMFILE) is retried after
 * a back-off and never stops the listener.
 *
 * Requires `--allow-net`.
 *
 * @example Usage
 * ```ts ignore
 * const listener = DataPlaneListener.listen("127.0.0.1");
 * const session = listener.openSession();
 * // send listener.port and session.token to the client in Accept, then:
 * for await (const conn of session.connections) receivePayloads(conn, sink);
 * ```
 */
export class DataPlaneListener {
  #listener: Deno.Listener;
  #tokenTimeoutMs: number;
  #maxPending: number;
  #maxPerAddress: number;
  #sessions = new Set<SessionState>();
  /** Connections in the token handshake, oldest first, with their peer address. */
  #handshakes = new Map<DataConn, string>();
  #refused = 0;
  #closed = false;
  #loop: Promise<void>;

  #allowed: (address: string) => boolean;

  /**
   * Wraps a bound TCP listener (see {@linkcode DataPlaneListener.listen}) and starts accepting.
   * @param listener The listener; owned from now on.
   * @param options Handshake limits.
   */
  constructor(listener: Deno.Listener, options: DataPlaneListenerOptions = {}) {
    const {
      tokenTimeoutMs = 3_000,
      maxPendingHandshakes = 128,
      maxPendingPerAddress = 32,
      allowed = () => true,
    } = options;
    this.#allowed = allowed;
    this.#listener = listener;
    this.#tokenTimeoutMs = tokenTimeoutMs;
    this.#maxPending = Math.max(1, maxPendingHandshakes);
    this.#maxPerAddress = Math.max(1, maxPendingPerAddress);
    this.#loop = this.#acceptLoop();
  }

  /**
   * Listens on an ephemeral port of `hostname` (use the gRPC bind address), with TLS when given
   * the daemon's certificate.
   *
   * Deno's TLS (`Deno.listenTls`) is used because it is fast (a `node:tls` server measured 40–70%
   * slower on 512 MiB transfers, with 100 MiB more resident memory). Its known cost: a
   * connection that never starts its TLS handshake cannot be closed under Deno 2.9.6 —
   * `close()` frees the handshake slot here, but the socket itself stays until the peer sends or
   * hangs up. Silent connections therefore cannot starve sessions, but each holds a descriptor
   * for as long as its peer keeps it open (a limit the README states).
   * @param hostname Address to bind, e.g. "127.0.0.1".
   * @param options Handshake limits, the address rule, and TLS.
   * @returns The listener, already accepting.
   */
  static listen(
    hostname: string,
    options: DataPlaneListenerOptions & { tls?: DataPlaneTls | null } = {},
  ): DataPlaneListener {
    const listener = options.tls
      ? Deno.listenTls({ hostname, port: 0, cert: options.tls.cert, key: options.tls.key })
      : Deno.listen({ hostname, port: 0, transport: "tcp" });
    return new DataPlaneListener(listener, options);
  }

  /** The bound address. */
  get hostname(): string {
    return (this.#listener.addr as Deno.NetAddr).hostname;
  }

  /** The bound port (grant it as `Accept.data_port`). */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /**
   * Connections closed for a wrong, short or missing token, for making room in the handshake
   * slots, or beyond their session's connections.
   */
  get refusedConnections(): number {
    return this.#refused;
  }

  /** Connections in the token handshake now. */
  get pendingHandshakes(): number {
    return this.#handshakes.size;
  }

  /**
   * Grants a new session a fresh random token.
   * @param options How many connections the session takes.
   * @throws {Error} When the listener is closed.
   * @returns The session: its token, its connections, and `close()` to revoke it.
   */
  openSession(options: DataPlaneSessionOptions = {}): DataPlaneSession {
    if (this.#closed) throw new Error("Cannot open data-plane session: the listener is closed");
    const state = new SessionState(
      () => this.#sessions.delete(state),
      options.maxConnections ?? Infinity,
    );
    this.#sessions.add(state);
    return state.handle;
  }

  /** Stops listening, closes every session and every connection still in its handshake. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    for (const session of [...this.#sessions]) session.close();
    for (const conn of this.#handshakes.keys()) closeQuietly(conn);
    this.#handshakes.clear();
  }

  /** Resolves once the accept loop has ended (after {@linkcode DataPlaneListener.close}). */
  get finished(): Promise<void> {
    return this.#loop;
  }

  async #acceptLoop(): Promise<void> {
    let backoff = 0;
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) return;
        // e.g. EMFILE: back off (10 ms doubling to 1 s) and keep serving the sessions connected
        backoff = Math.min(1000, Math.max(10, backoff * 2));
        await sleep(backoff);
        continue;
      }
      backoff = 0;
      const peer = (conn.remoteAddr as Deno.NetAddr).hostname ?? "";
      // Checked before a TLS byte is read (the handshake happens on the first read).
      if (this.#closed || !this.#allowed(peer)) {
        this.#refused++;
        closeQuietly(conn);
        continue;
      }
      try {
        if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      } catch { /* not fatal */ }
      this.#makeRoom(peer);
      this.#handshakes.set(conn, peer);
      this.#handshake(conn).finally(() => this.#handshakes.delete(conn));
    }
  }

  /** Closes the longest-waiting handshake of `peer`, or of anyone, when the slots are full. */
  #makeRoom(peer: string): void {
    let fromPeer = 0;
    let oldestOfPeer: DataConn | null = null;
    for (const [conn, address] of this.#handshakes) {
      if (address !== peer) continue;
      oldestOfPeer ??= conn;
      fromPeer++;
    }
    let evict: DataConn | null = null;
    if (fromPeer >= this.#maxPerAddress) evict = oldestOfPeer;
    else if (this.#handshakes.size >= this.#maxPending) {
      evict = this.#handshakes.keys().next().value ?? null;
    }
    if (evict === null) return;
    // Its handshake task sees the closed connection, counts the refusal and forgets it.
    this.#handshakes.delete(evict);
    closeQuietly(evict);
  }

  async #handshake(conn: DataConn): Promise<void> {
    let token: Uint8Array | null;
    try {
      token = await withDeadline(readToken(conn), {
        timeoutMs: this.#tokenTimeoutMs,
        action: "read data-plane token",
        onTimeout: () => closeQuietly(conn),
      });
    } catch {
      token = null;
    }
    let match: SessionState | null = null;
    if (token && !this.#closed && this.#handshakes.has(conn)) {
      for (const session of this.#sessions) {
        if (constantTimeEqual(token, session.token) && match === null) match = session;
      }
    }
    // The answer goes out before the session can use the connection, and only when it will
    // take it: a client that got no answer knows to fall back.
    let delivered = false;
    if (match !== null && match.canTake()) {
      try {
        await withDeadline(writeAll(conn, new Uint8Array([TOKEN_ACCEPTED])), {
          timeoutMs: this.#tokenTimeoutMs,
          action: "answer a data-plane connection",
          onTimeout: () => closeQuietly(conn),
        });
        delivered = match.deliver(conn);
      } catch { /* the client left */ }
    }
    if (!delivered) {
      this.#refused++;
      closeQuietly(conn);
    }
  }
}

class SessionState {
  readonly token: Uint8Array;
  readonly handle: DataPlaneSession;
  #queue: DataConn[] = [];
  #waiters: ((conn: DataConn | null) => void)[] = [];
  #closed = false;
  #revoke: () => void;
  #room: number;
  /** Every connection delivered to the session (closed by `abort()`). */
  #delivered = new Set<DataConn>();

  constructor(revoke: () => void, maxConnections: number) {
    this.token = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
    this.#revoke = revoke;
    this.#room = maxConnections;
    const accept = (timeoutMs?: number): Promise<DataConn | null> => this.accept(timeoutMs);
    const iterate = async function* (): AsyncGenerator<DataConn> {
      while (true) {
        const conn = await accept();
        if (conn === null) return;
        yield conn;
      }
    };
    this.handle = {
      token: this.token.slice(),
      connections: { [Symbol.asyncIterator]: iterate },
      accept,
      close: () => this.close(),
      abort: () => this.abort(),
    };
  }

  /** Whether a connection presenting this token would be taken. */
  canTake(): boolean {
    return !this.#closed && this.#room > 0;
  }

  deliver(conn: DataConn): boolean {
    if (!this.canTake()) return false;
    this.#room--;
    this.#delivered.add(conn);
    const waiter = this.#waiters.shift();
    if (waiter) waiter(conn);
    else this.#queue.push(conn);
    return true;
  }

  accept(timeoutMs?: number): Promise<DataConn | null> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closed) return Promise.resolve(null);
    let waiter: (conn: DataConn | null) => void = () => {};
    const wait = new Promise<DataConn | null>((resolve) => {
      waiter = resolve;
      this.#waiters.push(resolve);
    });
    if (timeoutMs === undefined) return wait;
    return withDeadline(wait, {
      timeoutMs,
      action: "accept data-plane connection",
      onTimeout: () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
      },
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#revoke();
    for (const conn of this.#queue) closeQuietly(conn);
    this.#queue = [];
    for (const waiter of this.#waiters) waiter(null);
    this.#waiters = [];
  }

  abort(): void {
    this.close();
    for (const conn of this.#delivered) closeQuietly(conn);
    this.#delivered.clear();
  }
}

/** Where and how to reach a session's data plane (from `Accept`). */
export interface DataPlaneGrant {
  /** The daemon's address (the host the control channel reached). */
  hostname: string;
  /** `Accept.data_port`. */
  port: number;
  /** `Accept.session_token`. */
  token: Uint8Array;
}

/** Options for {@linkcode dialDataPlane}. */
export interface DialOptions {
  /**
   * Longest time for the connect and for the token write, each.
   * @default {10000}
   */
  timeoutMs?: number;
  /**
   * Opens the connection (a pinned TLS connection, say); default: plain TCP with `TCP_NODELAY`.
   * It must honour `timeoutMs` itself.
   */
  connect?: (hostname: string, port: number, timeoutMs: number) => Promise<DataConn>;
}

/**
 * Connects to a data plane, presents the session token and waits for the daemon's answer
 * ({@linkcode TOKEN_ACCEPTED}); `TCP_NODELAY` is set. A daemon that refuses the connection
 * (a wrong or revoked token, its handshake slots busy, the session's connections all taken)
 * closes it without an answer, and this fails before anything else is sent.
 *
 * Requires `--allow-net`.
 *
 * @example Usage
 * ```ts ignore
 * const conn = await dialDataPlane({ hostname: "127.0.0.1", port, token });
 * await sendPayloads(conn, items);
 * ```
 *
 * @param grant Address, port and token from `Accept`.
 * @param options The connect deadline.
 * @throws {TimeoutError} When connecting, writing the token or the answer stalls.
 * @throws {Error} When the connection is refused, or closed without an answer.
 * @returns The connection, ready for records.
 */
export async function dialDataPlane(
  grant: DataPlaneGrant,
  options: DialOptions = {},
): Promise<DataConn> {
  const { hostname, port, token } = grant;
  const {
    timeoutMs = 10_000,
    connect = (host: string, at: number, ms: number) =>
      connectTcp(host, at, { timeoutMs: ms, action: `connect to data plane ${host}:${at}` }),
  } = options;
  if (token.length !== TOKEN_BYTES) {
    throw new RangeError(`Cannot dial data plane: the token has ${token.length} bytes, not 32`);
  }
  const conn = await connect(hostname, port, timeoutMs);
  try {
    if ("handshake" in conn) await ticketsLanded();
    await withDeadline(writeAll(conn, token), {
      timeoutMs,
      action: "write data-plane token",
      onTimeout: () => closeQuietly(conn),
    });
    const answer = new Uint8Array(1);
    const got = await withDeadline(conn.read(answer).catch(() => null), {
      timeoutMs,
      action: `hear from data plane ${hostname}:${port}`,
      onTimeout: () => closeQuietly(conn),
    });
    if (got !== 1 || answer[0] !== TOKEN_ACCEPTED) {
      throw new Error(
        `Cannot use data plane ${hostname}:${port}: the daemon closed the connection without ` +
          "accepting it (its session ended, or it was busy)",
      );
    }
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
  return conn;
}

/**
 * Waits a millisecond after a TLS handshake before the token goes out. The daemon's TLS 1.3 sends
 * its session tickets just after the handshake; a token sent before they arrive does not
 * acknowledge them, so the daemon's one-byte answer waits behind them for the client's delayed
 * acknowledgement (Nagle's algorithm, and `Deno.listenTls` offers no `TCP_NODELAY`): measured
 * 41–44 ms for the answer, against 2–3 ms when the token leaves a millisecond later.
 */
function ticketsLanded(): Promise<void> {
  return sleep(1);
}

/** One file for {@linkcode sendPayloads}. */
export interface SendItem {
  /** Manifest id of a needed file. */
  id: number;
  /** Its path relative to the transfer root (for messages). */
  path: string;
  /** Size announced in the manifest: exactly this many bytes are sent. */
  size: number;
  /** Opens the source file for reading (through its tree). */
  open(): Deno.FsFile;
  /**
   * The destination's block signature of its old copy: the file is then sent as a delta against
   * it (a `delta` record) when it travels as a large file.
   */
  basis?: Signature;
  /** The basis is a partial file of this very version: compared at its own offsets only. */
  resume?: boolean;
}

/** A file the source could not send. */
export interface PayloadFailure {
  /** Manifest id. */
  id: number;
  /** One-line reason. */
  message: string;
}

/** Options for {@linkcode sendPayloads}. */
export interface SendOptions {
  /**
   * Files up to this size travel in shards; larger ones as `file` records.
   * @default {65536}
   */
  smallFileMax?: number;
  /**
   * A shard is sent once its members reach this many bytes (at most 32 MiB). Small shards keep
   * the pipeline full: the receiver writes the first files while later ones are still read, and
   * a shard's bytes are still in the CPU's cache when they are encrypted and sent (measured:
   * see `SHARD_MAX_BYTES` in this module).
   * @default {1048576}
   */
  shardMaxBytes?: number;
  /**
   * A shard is sent once it holds this many files (at most 4096).
   * @default {128}
   */
  shardMaxFiles?: number;
  /**
   * Size of the reusable read buffer for large files (at least 64 KiB).
   * @default {1048576}
   */
  chunkBytes?: number;
  /**
   * Longest time a write may make no progress (the receiver stopped reading).
   * @default {30000}
   */
  idleTimeoutMs?: number;
  /** Closes the connection, which ends the send with an error. */
  signal?: AbortSignal;
}

/** The outcome of {@linkcode sendPayloads}. */
export interface SendResult {
  /** Files sent with good bytes (in shards or `file` records). */
  filesSent: number;
  /** Payload bytes of those files. */
  bytesSent: number;
  /** Files that could not be read or changed size (sent as `error` or discarded on arrival). */
  failures: PayloadFailure[];
  /** Ids of files that had vanished (sent as `skip`). */
  vanished: number[];
  /** Ids of files that grew while being sent (their announced prefix was sent). */
  grown: number[];
  /** Files sent as deltas, and the literal bytes their deltas carried. */
  deltas: { files: number; literalBytes: number };
}

let nextShardId = 0;

/**
 * A shard's default limits. Measured on loopback against a daemon (2 vCPUs, TLS on, medians of
 * 8 interleaved pushes): 2,000 files of 4 KiB took 0.52 s in shards of 1,024 files and 0.43 s in
 * shards of 64–128 (the daemon waited for a whole shard before writing its first file, then the
 * client for the daemon); 2,000 files of 1–64 KiB 0.73 s (0.57 CPU-seconds) in 4 MiB shards and
 * 0.66 s (0.47) in 1 MiB shards.
 */
const SHARD_MAX_BYTES = 1024 * 1024;
/** See {@linkcode SHARD_MAX_BYTES}. */
const SHARD_MAX_FILES = 128;

/** The receiver's shard buffer, unless a shard needs more: a default shard and room. */
const SHARD_BUFFER_BYTES = SHARD_MAX_BYTES + 64 * 1024 + 1;

/**
 * The SOURCE loop of one data-plane connection: sends the payload of each item, then `end`.
 * Small files are packed into shards (the next shard is read while the previous one is
 * written); large ones stream in `chunkBytes` pieces. Exactly the announced size is sent: a file
 * that shrank is padded and flagged so the receiver discards it; a file that grew is cut. A file
 * that cannot be read becomes an `error` record, a vanished one a `skip`, and the loop goes on.
 *
 * Several connections may share one iterator (pass the same async generator to each call): every
 * item goes to exactly one connection. The iterator is not closed by this function. When `items`
 * tells how many items it holds (a `size`, as an `AsyncQueue` has), a partial shard is sent as
 * soon as it runs dry, instead of waiting for more.
 *
 * Takes ownership of `conn` and closes it when done or failed.
 *
 * @example Usage
 * ```ts ignore
 * const conn = await dialDataPlane({ hostname, port, token });
 * const result = await sendPayloads(conn, items);
 * console.log(result.filesSent, result.failures);
 * ```
 *
 * @param conn A dialled or accepted data-plane connection.
 * @param items The files to send.
 * @param options Shard limits, buffer size, deadline and cancellation.
 * @throws {TimeoutError} When the receiver stops reading.
 * @throws {Error} When the connection fails; per-file problems never throw.
 * @returns Counts and per-file failures.
 */
export async function sendPayloads(
  conn: DataConn,
  items: AsyncIterable<SendItem> | Iterable<SendItem>,
  options: SendOptions = {},
): Promise<SendResult> {
  const {
    smallFileMax = 64 * 1024,
    shardMaxBytes = SHARD_MAX_BYTES,
    shardMaxFiles = SHARD_MAX_FILES,
    chunkBytes = 1024 * 1024,
    idleTimeoutMs = 30_000,
    signal,
  } = options;
  const writer = new RecordWriter(conn, { idleTimeoutMs });
  const result: SendResult = {
    filesSent: 0,
    bytesSent: 0,
    failures: [],
    vanished: [],
    grown: [],
    deltas: { files: 0, literalBytes: 0 },
  };
  const available = availableOf(items);
  const buffer = new Uint8Array(Math.max(64 * 1024, chunkBytes));
  const onAbort = (): void => writer.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  const maxFiles = Math.min(Math.max(1, shardMaxFiles), 4096);
  // Keeps every shard (members + one more file + headers) under the 64 MiB record cap.
  const shardBytes = Math.min(shardMaxBytes, 32 * 1024 * 1024);
  const smallMax = Math.min(smallFileMax, shardBytes);
  let batch: SendItem[] = [];
  let batchBytes = 0;
  let inFlight: Promise<void> = Promise.resolve();
  // Shard buffers written out, for the next shards: one is packed while the other is written,
  // and memory used again costs no page faults (a fresh 4 MiB buffer per shard cost ~1,000).
  const spares: Uint8Array[] = [];

  const writeShard = async (shard: PackedShard): Promise<void> => {
    for (const failure of shard.failures) {
      if (failure.vanished) {
        result.vanished.push(failure.id);
        await writer.writeRecord({ type: "skip", id: failure.id });
      } else {
        result.failures.push({ id: failure.id, message: failure.message });
        await writer.writeRecord({ type: "error", id: failure.id, message: failure.message });
      }
    }
    result.grown.push(...shard.grown);
    if (shard.fileIds.length === 0) return;
    const shardId = nextShardId++;
    await writer.writeRecord({
      type: "shard",
      shardId,
      size: shard.bytes.length,
      fileIds: shard.fileIds,
    });
    await writer.write(shard.bytes);
    result.filesSent += shard.fileIds.length;
  };
  const flushShard = async (): Promise<void> => {
    if (batch.length === 0) return;
    const files = batch;
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    batch = [];
    batchBytes = 0;
    const previous = inFlight;
    // Read while the previous shard is still being written.
    const spare = spares.pop() ?? new Uint8Array(shardBytes + smallMax + 1);
    const shard = await packShard(files, spare);
    inFlight = (async () => {
      await previous;
      await writeShard(shard);
      // Written (copied or sent): the buffer is free again.
      spares.push(spare);
      result.bytesSent += bytes - shard.failures.reduce((sum, f) => sum + sizeOf(files, f.id), 0);
    })();
    inFlight.catch(() => {});
    await previous;
  };

  try {
    const iterator = Symbol.asyncIterator in items
      ? items[Symbol.asyncIterator]()
      : items[Symbol.iterator]();
    while (true) {
      if (signal?.aborted) throw abortError(signal);
      // Nothing more is ready: the partial shard goes now rather than when the next item comes.
      if (batch.length > 0 && available?.() === 0) await flushShard();
      const next = await iterator.next();
      if (next.done) break;
      const item = next.value;
      if (item.size <= smallMax) {
        batch.push(item);
        batchBytes += item.size;
        if (batch.length >= maxFiles || batchBytes >= shardBytes) await flushShard();
        continue;
      }
      await inFlight;
      await sendFile(writer, item, buffer, result);
    }
    await flushShard();
    await inFlight;
    await writer.writeRecord({ type: "end" });
    await writer.flush();
    return result;
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    writer.close();
  }
}

async function sendFile(
  writer: RecordWriter,
  item: SendItem,
  buffer: Uint8Array,
  result: SendResult,
): Promise<void> {
  const { id, path, size } = item;
  const fail = async (message: string): Promise<void> => {
    result.failures.push({ id, message });
    await writer.writeRecord({ type: "error", id, message });
  };
  let file: Deno.FsFile;
  try {
    file = item.open();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      result.vanished.push(id);
      await writer.writeRecord({ type: "skip", id });
    } else {
      await fail(`Cannot open file "${path}": ${describeError(error)}`);
    }
    return;
  }
  try {
    let info: Deno.FileInfo;
    try {
      info = await file.stat();
    } catch (error) {
      return await fail(`Cannot stat file "${path}": ${describeError(error)}`);
    }
    if (!info.isFile) return await fail(`Cannot read file "${path}": not a regular file`);
    if (info.size < size) {
      return await fail(
        `Cannot read file "${path}": it shrank to ${info.size} bytes, ${size} were announced`,
      );
    }
    if (item.basis !== undefined) return await sendDelta(writer, item, file, result);
    await writer.writeRecord({ type: "file", id, size });
    let left = size;
    let status: FileStatus = FILE_STATUS.ok;
    let problem = "";
    // Read synchronously, then sent: a read from the page cache costs less than a hop to an
    // I/O thread and back (a 1 GiB push without TLS: 651 → 602 ms, medians of 6), and the
    // kernel reads ahead of a sequential reader on its own.
    while (left > 0) {
      let got: number | null;
      try {
        got = file.readSync(left < buffer.length ? buffer.subarray(0, left) : buffer);
      } catch (error) {
        status = FILE_STATUS.unreadable;
        problem = `Cannot read file "${path}": ${describeError(error)}`;
        break;
      }
      if (got === null) {
        status = FILE_STATUS.changed;
        problem = `Cannot read file "${path}": it shrank while being sent ` +
          `(${size - left} of ${size} bytes)`;
        break;
      }
      left -= got;
      await writer.write(buffer.subarray(0, got));
    }
    if (left > 0) {
      buffer.fill(0);
      while (left > 0) {
        const n = Math.min(left, buffer.length);
        await writer.write(buffer.subarray(0, n));
        left -= n;
      }
    }
    if (status === FILE_STATUS.ok) {
      const after = await file.stat().catch(() => null);
      if (after && after.size > size) result.grown.push(id);
      result.filesSent++;
      result.bytesSent += size;
    } else {
      result.failures.push({ id, message: problem });
    }
    await writer.write(new Uint8Array([status]));
  } finally {
    file.close();
  }
}

/**
 * Sends an open file as a `delta` record against the destination's signature: the instructions
 * as the search finds them, then the digest of its pieces (see `encodeDelta`) and its status (a
 * file that shrank is described as zeros to its announced size and flagged, as a `file` record
 * would be).
 */
async function sendDelta(
  writer: RecordWriter,
  item: SendItem,
  file: Deno.FsFile,
  result: SendResult,
): Promise<void> {
  const { id, size } = item;
  await writer.writeRecord({ type: "delta", id, size });
  const delta = encodeDelta(file, {
    size,
    signature: item.basis as Signature,
    prefix: item.resume === true,
  });
  let step = await delta.next();
  let literalBytes = 0;
  // A literal leaves in one write with its header: a small write before a large one waits for
  // the peer's acknowledgement on a connection without TCP_NODELAY (a TLS data connection).
  let scratch: Uint8Array | null = null;
  const blockSize = (item.basis as Signature).blockSize;
  let copiedUnsent = 0; // bytes of copies batched, not sent yet
  for (; !step.done; step = await delta.next()) {
    const op = step.value;
    if (op.kind === "copy") {
      await writer.write(encodeDeltaInstruction({ op: "copy", block: op.block, count: op.count }));
      // A long run leaves now: the destination rebuilds it while the search goes on.
      copiedUnsent += op.count * blockSize;
      if (copiedUnsent >= COPY_RUN_BYTES) {
        copiedUnsent = 0;
        await writer.flush();
      }
      continue;
    }
    const length = op.bytes.length;
    literalBytes += length;
    const header = encodeDeltaInstruction({ op: "literal", length });
    scratch ??= new Uint8Array(header.length + DELTA_CAPS.maxLiteralBytes);
    scratch.set(header);
    scratch.set(op.bytes, header.length);
    await writer.write(scratch.subarray(0, header.length + length));
  }
  const { digest, problem } = step.value;
  const status: FileStatus = problem === null
    ? FILE_STATUS.ok
    : problem.status === "changed"
    ? FILE_STATUS.changed
    : FILE_STATUS.unreadable;
  await writer.write(encodeDeltaInstruction({ op: "end", digest, status }));
  // A delta of a few changes is a few bytes: they leave now, not when the batch fills (the
  // destination signs its next files only once earlier ones have come, see WireIntake).
  await writer.flush();
  result.deltas.files++;
  result.deltas.literalBytes += literalBytes;
  if (problem !== null) {
    result.failures.push({ id, message: `${problem.message} ("${item.path}")` });
    return;
  }
  const after = await file.stat().catch(() => null);
  if (after && after.size > size) result.grown.push(id);
  result.filesSent++;
  result.bytesSent += size;
}

/** Fills a new temporary file with one file's payload; see {@linkcode PayloadSink.writeFile}. */
export type PayloadFill = (file: Deno.FsFile) => Promise<void>;

/**
 * Where {@linkcode receivePayloads} delivers files: the DESTINATION session's view of its grants
 * and its writer. Shared by all connections of a session: an id is accepted once per sink.
 */
export interface PayloadSink {
  /**
   * Returns the granted size of a needed file, or `null` when `id` was not granted (the peer
   * broke the protocol and the connection fails). Called once per id.
   */
  expect(id: number): { size: number } | null;
  /**
   * Writes one file: the sink creates a temporary sibling, awaits `fill(file)` (which writes
   * exactly `size` bytes from the wire into it), then verifies and renames it into place. `fill` rejects when the payload must be discarded (the source changed, or the
   * local write failed); the sink then removes the temporary file. Reject to have the failure
   * reported through `fileFailed`; resolve when the sink has recorded the outcome itself. A sink
   * that does not want the bytes may return without calling `fill`: they are then skipped.
   */
  writeFile(id: number, size: number, fill: PayloadFill): Promise<void>;
  /** Records a failed file: an `error` record from the source, or a rejected `writeFile`. */
  fileFailed(id: number, message: string): void;
  /** Records a file the source no longer has (`skip` record). */
  skipped?(id: number): void;
  /**
   * The basis the destination signed for a file it asked a delta of: the signature's shape, and
   * how to open the basis for reading. `null` when it sent no signature for `id` (a `delta`
   * record for it is then a protocol violation).
   */
  basis?(id: number): DeltaBasis | null;
  /**
   * Writes one shard member whose bytes are all here. `data` is a view of a buffer the receiver
   * reads the next shard into once {@linkcode PayloadSink.endShard} has resolved (memory used
   * again costs no page faults): the sink copies or writes the bytes before then. Resolves
   * once the write is queued (it waits while the writers are saturated); the sink records the
   * outcome itself. Without it, members go through {@linkcode PayloadSink.writeFile}.
   */
  writeMember?(id: number, data: Uint8Array): Promise<void>;
  /**
   * The members of one shard were all handed to {@linkcode PayloadSink.writeMember}; resolves
   * once their bytes are copied or written (the shard's buffer is then used again).
   */
  endShard?(): Promise<void>;
}

/** A destination's basis for one delta (see {@linkcode PayloadSink.basis}). */
export interface DeltaBasis {
  /** The shape of the signature that was sent. */
  shape: SignatureShape;
  /** Opens the basis for reading. */
  open(): Deno.FsFile;
}

/** Options for {@linkcode receivePayloads}. */
export interface ReceiveOptions {
  /**
   * Longest time a read may make no progress before the connection fails with `TimeoutError`.
   * @default {30000}
   */
  idleTimeoutMs?: number;
  /**
   * Shard members written at the same time (file creation dominates small-file cost).
   * @default {16}
   */
  writeConcurrency?: number;
  /**
   * Size of the read buffer (at least 64 KiB).
   * @default {1048576}
   */
  bufferSize?: number;
  /** Closes the connection, which ends the receive with an error. */
  signal?: AbortSignal;
}

/** The outcome of {@linkcode receivePayloads}. */
export interface ReceiveResult {
  /** Files whose bytes were received and handed to the sink intact. */
  filesReceived: number;
  /** Payload bytes of those files. */
  bytesReceived: number;
  /** Files that failed (error records, discarded payloads, failed writes). */
  failures: PayloadFailure[];
  /** Ids the source skipped. */
  skipped: number[];
}

const claimsBySink = new WeakMap<PayloadSink, Set<number>>();

/**
 * The DESTINATION loop of one data-plane connection: reads records until `end` and delivers each
 * file to `sink`. Checks that every id was granted and arrives once (across all connections that
 * share `sink`), that each size is exactly the granted size, and that a shard holds exactly the
 * granted bytes of the ids it lists; a payload flagged as changed is discarded and reported.
 *
 * Takes ownership of `conn` and closes it when done or failed.
 *
 * @example Usage
 * ```ts ignore
 * for await (const conn of session.connections) {
 *   receivePayloads(conn, sink).then((r) => console.log(r.filesReceived));
 * }
 * ```
 *
 * @param conn An accepted or dialled data-plane connection (after the token).
 * @param sink The session's grants and writer.
 * @param options Idle deadline, write concurrency, buffer size and cancellation.
 * @throws {ProtocolError} When the peer breaks the protocol (the session must abort).
 * @throws {TimeoutError} When the peer makes no progress for `idleTimeoutMs`.
 * @returns Counts and per-file failures.
 */
export async function receivePayloads(
  conn: DataConn,
  sink: PayloadSink,
  options: ReceiveOptions = {},
): Promise<ReceiveResult> {
  const { idleTimeoutMs = 30_000, writeConcurrency = 16, bufferSize = 1024 * 1024, signal } =
    options;
  const reader = new RecordReader(conn, { idleTimeoutMs, bufferSize });
  const result: ReceiveResult = { filesReceived: 0, bytesReceived: 0, failures: [], skipped: [] };
  let claims = claimsBySink.get(sink);
  if (!claims) claimsBySink.set(sink, claims = new Set());
  const claimed = claims;
  const claim = (id: number): number => {
    if (claimed.has(id)) throw badRecord(`file id ${id} was already received`);
    const grant = sink.expect(id);
    if (grant === null) throw badRecord(`file id ${id} was not granted`);
    claimed.add(id);
    return grant.size;
  };
  const failed = (id: number, message: string, tell: boolean): void => {
    result.failures.push({ id, message });
    if (tell) sink.fileFailed(id, message);
  };
  const writes = new Set<Promise<void>>();
  let shardBuffer = new Uint8Array(0);
  const onAbort = (): void => reader.close();
  signal?.addEventListener("abort", onAbort, { once: true });

  const writeMember = async (id: number, data: Uint8Array): Promise<void> => {
    try {
      await sink.writeFile(id, data.length, fillFromMemory(id, data));
      result.filesReceived++;
      result.bytesReceived += data.length;
    } catch (error) {
      failed(id, describeError(error), true);
    }
  };

  try {
    while (true) {
      if (signal?.aborted) throw abortError(signal);
      const record = await reader.readRecord();
      if (record.type === "end") break;
      switch (record.type) {
        case "skip":
          claim(record.id);
          result.skipped.push(record.id);
          sink.skipped?.(record.id);
          break;
        case "error":
          claim(record.id);
          failed(record.id, record.message, true);
          break;
        case "file":
        case "delta": {
          const size = claim(record.id);
          if (record.size !== size) {
            throw badRecord(
              `file ${record.id} announces ${record.size} bytes, ${size} were granted`,
            );
          }
          if (record.type === "file") {
            await receiveFile(reader, sink, record.id, size, result, failed);
            break;
          }
          const basis = sink.basis?.(record.id) ?? null;
          if (basis === null) {
            throw badRecord(`file ${record.id} came as a delta, but no signature was sent for it`);
          }
          await receiveDelta(reader, sink, { id: record.id, size, basis }, result, failed);
          break;
        }
        case "shard": {
          const sizes = new Map<number, number>();
          for (const id of record.fileIds) sizes.set(id, claim(id));
          // A sink with writeMember is done with the bytes once endShard resolves: the buffer
          // is used again. Without it, writes may still hold views of it: a new one each time.
          let into: Uint8Array | undefined;
          if (sink.writeMember) {
            if (shardBuffer.length < record.size) {
              shardBuffer = new Uint8Array(Math.max(record.size, SHARD_BUFFER_BYTES));
            }
            into = shardBuffer;
          }
          const bytes = await reader.readExact(record.size, into);
          await unpackShard(bytes, {
            fileIds: record.fileIds,
            granted: (id) => sizes.get(id) ?? null,
            onMember: async (id, data) => {
              if (sink.writeMember) {
                await sink.writeMember(id, data);
                result.filesReceived++;
                result.bytesReceived += data.length;
                return;
              }
              while (writes.size >= Math.max(1, writeConcurrency)) await Promise.race(writes);
              const write = writeMember(id, data).finally(() => writes.delete(write));
              writes.add(write);
            },
          });
          await sink.endShard?.();
          break;
        }
      }
    }
    await Promise.all(writes);
    return result;
  } catch (error) {
    await Promise.allSettled(writes);
    if (signal?.aborted) throw abortError(signal);
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.close();
  }
}

async function receiveFile(
  reader: RecordReader,
  sink: PayloadSink,
  id: number,
  size: number,
  result: ReceiveResult,
  failed: (id: number, message: string, tell: boolean) => void,
): Promise<void> {
  // Mutated inside `fill`; an object so that the checks below are not narrowed away.
  const st: FillState = {
    phase: "idle",
    wireError: null,
    outcome: null, // failure message of the payload, null when intact
  };
  const fill: PayloadFill = async (file) => {
    if (st.phase !== "idle") throw new Error(`Cannot fill file ${id}: fill was already called`);
    st.phase = "filling";
    let diskError: unknown = null;
    let status: FileStatus;
    try {
      // Each piece is written as it is read, synchronously and in slices (core/file_write.ts):
      // the kernel keeps receiving into the socket's buffer meanwhile.
      let left = size;
      const turns = new EventLoopTurns();
      while (left > 0) {
        const chunk = await reader.readChunk(left);
        left -= chunk.length;
        if (diskError !== null) continue;
        try {
          writeFully(file, chunk);
        } catch (error) {
          diskError = error;
        }
        await turns.after(chunk.length);
      }
      status = await reader.readStatus();
    } catch (error) {
      st.wireError = error;
      throw interrupted(id, error);
    } finally {
      st.phase = "done";
    }
    st.outcome = payloadProblem(id, status, diskError);
    if (st.outcome !== null) throw new Error(st.outcome);
  };
  await deliver({ sink, id, size, fill, st, result, failed }, async () => {
    await reader.skip(size);
    await reader.readStatus();
  });
}

/** What a fill reports of itself to {@linkcode deliver}. */
interface FillState {
  /** Whether the sink called the fill, and whether it returned. */
  phase: "idle" | "filling" | "done";
  /** The connection's error inside the payload (the connection then fails). */
  wireError: unknown;
  /** Why the payload must be discarded, `null` when it is intact. */
  outcome: string | null;
}

/**
 * Hands one file's fill to the sink and records the outcome, the same for a `file` and a `delta`
 * record: a wire error fails the connection; a payload the sink did not want is read and
 * dropped (`skip`); a rejection or a discarded payload is a failed file.
 */
async function deliver(
  file: {
    sink: PayloadSink;
    id: number;
    size: number;
    fill: PayloadFill;
    st: FillState;
    result: ReceiveResult;
    failed: (id: number, message: string, tell: boolean) => void;
  },
  skip: () => Promise<void>,
): Promise<void> {
  const { sink, id, size, fill, st, result, failed } = file;
  let rejected: unknown = null;
  try {
    await sink.writeFile(id, size, fill);
  } catch (error) {
    rejected = error ?? new Error("Cannot write file: unknown error");
  }
  if (st.wireError !== null) throw st.wireError;
  if (st.phase === "filling") {
    throw new Error(`Cannot receive file ${id}: the sink returned before fill finished`);
  }
  if (st.phase === "idle") await skip();
  if (rejected !== null) {
    failed(id, describeError(rejected), true);
  } else if (st.outcome !== null) {
    failed(id, st.outcome, false);
  } else if (st.phase === "done") {
    result.filesReceived++;
    result.bytesReceived += size;
  }
}

/** Why a received payload must be discarded (the source's status, a local error), or `null`. */
function payloadProblem(id: number, status: FileStatus, local: unknown): string | null {
  if (status !== FILE_STATUS.ok) {
    return status === FILE_STATUS.changed
      ? `Cannot copy file ${id}: the source changed while it was sent`
      : `Cannot copy file ${id}: the source could not be read to the end`;
  }
  return local === null ? null : `Cannot write file ${id}: ${describeError(local)}`;
}

/**
 * Receives one `delta` record into the sink: the file is rebuilt from the destination's basis
 * and the instructions into the sink's temporary, and checked against the source's digest. A
 * broken instruction (a block outside the signature, a literal past the size) fails the
 * connection; a local problem (the basis changed or cannot be read, a disk write failed) fails
 * only the file, and the rest of its instructions are read and dropped.
 */
async function receiveDelta(
  reader: RecordReader,
  sink: PayloadSink,
  file: { id: number; size: number; basis: DeltaBasis },
  result: ReceiveResult,
  failed: (id: number, message: string, tell: boolean) => void,
): Promise<void> {
  const { id, size, basis } = file;
  const st: FillState = { phase: "idle", wireError: null, outcome: null };
  let literal: Uint8Array | null = null;
  const readLiteral = async (length: number): Promise<Uint8Array> => {
    if (literal === null || literal.length < length) {
      // A small buffer for small literals; the largest a literal may be (capped when its
      // instruction was read) once one needs more.
      literal = new Uint8Array(length <= 64 * 1024 ? 64 * 1024 : DELTA_CAPS.maxLiteralBytes);
    }
    return await reader.readExact(length, literal);
  };
  const fill: PayloadFill = async (out) => {
    if (st.phase !== "idle") throw new Error(`Cannot fill file ${id}: fill was already called`);
    st.phase = "filling";
    let local: unknown = null;
    let source: Deno.FsFile | null = null;
    let rebuild: DeltaRebuilder | null = null;
    let end: { digest: Uint8Array; status: FileStatus };
    try {
      try {
        source = basis.open();
        rebuild = await DeltaRebuilder.create({ shape: basis.shape, size, basis: source, out });
      } catch (error) {
        local = error;
      }
      // Each instruction is carried out at once, with synchronous writes (core/file_write.ts).
      const turns = new EventLoopTurns();
      while (true) {
        const instruction = await reader.readDeltaInstruction();
        if (instruction.op === "end") {
          end = instruction;
          break;
        }
        const bytes = instruction.op === "literal" ? await readLiteral(instruction.length) : null;
        if (local !== null || rebuild === null) continue;
        try {
          if (bytes !== null) {
            rebuild.literal(bytes);
            await turns.after(bytes.length);
          } else if (instruction.op === "copy") {
            // A long run in pieces, the event loop served between them (other sessions of a
            // daemon, timers, Ctrl-C): a run may be the whole file.
            const { block, count } = instruction;
            rebuild.checkCopy(block, count);
            const per = Math.max(1, Math.floor(YIELD_EVERY_BYTES / basis.shape.blockSize));
            for (let at = block; at < block + count; at += per) {
              await turns.after(rebuild.copy(at, Math.min(per, block + count - at)));
            }
          }
        } catch (error) {
          if (error instanceof ProtocolError) throw error;
          local = error;
        }
      }
      if (end.status === FILE_STATUS.ok && local === null && rebuild !== null) {
        try {
          rebuild.finish(end.digest);
        } catch (error) {
          if (error instanceof ProtocolError) throw error;
          local = error;
        }
      }
    } catch (error) {
      st.wireError = error;
      throw interrupted(id, error);
    } finally {
      st.phase = "done";
      rebuild?.close();
      source?.close();
    }
    st.outcome = payloadProblem(id, end.status, local);
    if (st.outcome !== null) throw new Error(st.outcome);
  };
  await deliver({ sink, id, size, fill, st, result, failed }, async () => {
    // Not wanted after all: the instructions are read and dropped.
    while (true) {
      const instruction = await reader.readDeltaInstruction();
      if (instruction.op === "end") break;
      if (instruction.op === "literal") await readLiteral(instruction.length);
    }
  });
}

async function readToken(conn: DataConn): Promise<Uint8Array | null> {
  const token = new Uint8Array(TOKEN_BYTES);
  let filled = 0;
  while (filled < TOKEN_BYTES) {
    const got = await conn.read(token.subarray(filled));
    if (got === null) return null;
    filled += got;
  }
  return token;
}

/** Compares two byte arrays in time that depends only on their lengths. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

async function writeAll(
  target: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await target.write(bytes.subarray(off));
}

function closeQuietly(conn: DataConn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** How many items a queue holds right now (an `AsyncQueue` has a `size`), when it says. */
function availableOf(items: object): (() => number) | null {
  if (!("size" in items) || typeof items.size !== "number") return null;
  const queue = items as { readonly size: number };
  return () => queue.size;
}

function sizeOf(files: readonly SendItem[], id: number): number {
  return files.find((f) => f.id === id)?.size ?? 0;
}

/** The error a fill rejects with when the connection failed inside a file's payload. */
function interrupted(id: number, error: unknown): TransferInterruptedError {
  return new TransferInterruptedError(
    `Cannot receive file ${id}: ${describeError(error)}`,
    { cause: error },
  );
}

function badRecord(detail: string): ProtocolError {
  return new ProtocolError(`Cannot read data record: ${detail}`);
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error
    ? reason
    : new Error("Cannot transfer data: the session was cancelled");
}
