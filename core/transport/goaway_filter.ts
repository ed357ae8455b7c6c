/**
 * Server-side defence against the Deno/nghttp2 abort on a received GOAWAY (denoland/deno#36788):
 * the daemon accepts TCP itself and hands grpc-js a stream from which every HTTP/2 GOAWAY frame
 * has been removed, in both directions (a Deno client can crash on a server's GOAWAY too). A client that closes gracefully then looks to the server
 * like a peer that simply hung up, which Deno handles without crashing.
 *
 * The same filter counts the HTTP/2 streams (calls) open on each connection, so that the
 * listener can close connections that have no call in flight for too long, and the listener's
 * accept loop survives descriptor exhaustion (EMFILE/ENFILE): it backs off and retries.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import type * as grpc from "@grpc/grpc-js";
import { ConnSocket } from "./conn_socket.ts";
import { TRANSFER_PREFACE } from "./protocol.ts";

/** Length of the client connection preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`. */
const PREFACE_BYTES = 24;
/** Length of an HTTP/2 frame header. */
const FRAME_HEADER_BYTES = 9;
/** HTTP/2 frame type of GOAWAY. */
const GOAWAY_TYPE = 0x7;
/** HTTP/2 frame type of DATA. */
const DATA_TYPE = 0x0;
/** HTTP/2 frame type of HEADERS. */
const HEADERS_TYPE = 0x1;
/** HTTP/2 frame type of RST_STREAM. */
const RST_STREAM_TYPE = 0x3;
/** The END_STREAM flag of DATA and HEADERS frames. */
const END_STREAM = 0x1;

/** Told of each complete frame header: its type, flags and stream id. */
type FrameHeaderListener = (type: number, flags: number, streamId: number) => void;

/**
 * Removes HTTP/2 GOAWAY frames from one direction of a byte stream, frame by frame, holding back
 * at most one frame header (9 bytes).
 */
class GoawayStripper {
  #prefaceLeft: number;
  #header = Buffer.alloc(FRAME_HEADER_BYTES);
  #headerFill = 0;
  #payloadLeft = 0;
  #skipping = false;
  /** GOAWAY frames removed so far. */
  dropped = 0;

  #onHeader: FrameHeaderListener | undefined;

  /**
   * @param prefaceBytes Bytes to pass before the first frame (the client preface, or 0).
   * @param onHeader Told of each complete frame header.
   */
  constructor(prefaceBytes: number, onHeader?: FrameHeaderListener) {
    this.#prefaceLeft = prefaceBytes;
    this.#onHeader = onHeader;
  }

  /**
   * Strips GOAWAY frames from the next chunk.
   * @param chunk Bytes in stream order.
   * @returns The bytes to pass on, or `null` when there are none yet.
   */
  strip(chunk: Buffer): Buffer | null {
    const out: Buffer[] = [];
    let pos = 0;
    let passFrom = 0;
    const flushPass = (end: number): void => {
      if (end > passFrom) out.push(chunk.subarray(passFrom, end));
    };
    if (this.#prefaceLeft > 0) {
      const n = Math.min(this.#prefaceLeft, chunk.length);
      this.#prefaceLeft -= n;
      pos = n;
    }
    while (pos < chunk.length) {
      if (this.#payloadLeft > 0) {
        const n = Math.min(this.#payloadLeft, chunk.length - pos);
        this.#payloadLeft -= n;
        pos += n;
        if (this.#skipping) passFrom = pos;
        continue;
      }
      // Reading a frame header, possibly split across chunks.
      const n = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.length - pos);
      chunk.copy(this.#header, this.#headerFill, pos, pos + n);
      const headerStartedEarlier = this.#headerFill > 0;
      this.#headerFill += n;
      pos += n;
      if (this.#headerFill < FRAME_HEADER_BYTES) break;
      this.#headerFill = 0;
      this.#payloadLeft = this.#header.readUIntBE(0, 3);
      this.#skipping = this.#header[3] === GOAWAY_TYPE;
      this.#onHeader?.(
        this.#header[3]!,
        this.#header[4]!,
        this.#header.readUInt32BE(5) & 0x7fff_ffff,
      );
      if (this.#skipping) {
        this.dropped++;
        flushPass(pos - n);
        passFrom = pos;
      } else if (headerStartedEarlier) {
        // The header's first bytes were held back from an earlier chunk: emit it whole.
        flushPass(pos - n);
        out.push(Buffer.from(this.#header));
        passFrom = pos;
      }
    }
    // Hold back a partial header: it is emitted (or dropped) once complete.
    flushPass(pos - this.#headerFill);
    if (out.length === 0) return null;
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}

/**
 * What the filter needs of the connection under it: a byte duplex (a `node:net` socket, or a
 * {@linkcode ConnSocket}), with the socket methods grpc-js may call forwarded when present.
 */
export interface FilterSocket extends Duplex {
  /** The peer's address. */
  readonly remoteAddress?: string | undefined;
  /** The peer's port. */
  readonly remotePort?: number | undefined;
  /** The local address. */
  readonly localAddress?: string | undefined;
  /** The local port. */
  readonly localPort?: number | undefined;
  /** Sets `TCP_NODELAY`. */
  setNoDelay?(noDelay?: boolean): unknown;
  /** Sets TCP keepalive. */
  setKeepAlive?(enable?: boolean, initialDelay?: number): unknown;
  /** Sets an idle timeout. */
  setTimeout?(ms: number, callback?: () => void): unknown;
}

/** Options of {@linkcode GoawayFilter}. */
export interface GoawayFilterOptions {
  /**
   * The TCP socket the addresses are read from (default: the socket itself): a TLS socket made
   * over an accepted one does not always report them.
   */
  peer?: FilterSocket;
  /** Told whenever the number of HTTP/2 streams (calls) open on the connection changes. */
  onStreams?: (open: number) => void;
}

/**
 * A duplex over a client socket that passes every byte through except HTTP/2 GOAWAY frames
 * arriving from the client. It never buffers more than one frame header (9 bytes): payloads are
 * forwarded (or skipped) as they arrive. It also follows the streams: one opens with the
 * client's HEADERS on a new stream id and closes with the server's END_STREAM or a RST_STREAM
 * from either side.
 */
export class GoawayFilter extends Duplex {
  #socket: FilterSocket;
  #peer: FilterSocket;
  #inbound: GoawayStripper;
  #outbound: GoawayStripper;
  #streams = new Set<number>();
  #lastStream = 0;
  #onStreams: ((open: number) => void) | undefined;

  /** GOAWAY frames removed from the client's bytes so far. */
  get dropped(): number {
    return this.#inbound.dropped;
  }

  /** GOAWAY frames removed from the server's bytes so far. */
  get droppedOutbound(): number {
    return this.#outbound.dropped;
  }

  /** HTTP/2 streams (calls) open now. */
  get openStreams(): number {
    return this.#streams.size;
  }

  /**
   * Wraps an accepted socket.
   *
   * @param socket The socket accepted from the client (after TLS, when TLS is on).
   * @param options Where the addresses are read, and who hears about the open streams.
   */
  constructor(socket: FilterSocket, options: GoawayFilterOptions = {}) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.#peer = options.peer ?? socket;
    this.#onStreams = options.onStreams;
    this.#inbound = new GoawayStripper(PREFACE_BYTES, (type, _flags, id) => {
      if (type === HEADERS_TYPE && id > this.#lastStream) {
        this.#lastStream = id;
        this.#opened(id);
      } else if (type === RST_STREAM_TYPE) this.#closed(id);
    });
    this.#outbound = new GoawayStripper(0, (type, flags, id) => {
      if (type === RST_STREAM_TYPE) this.#closed(id);
      else if ((type === HEADERS_TYPE || type === DATA_TYPE) && (flags & END_STREAM) !== 0) {
        this.#closed(id);
      }
    });
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => this.push(null));
    socket.on("error", (err: Error) => this.destroy(err));
    socket.on("close", () => this.destroy());
  }

  #opened(id: number): void {
    this.#streams.add(id);
    this.#onStreams?.(this.#streams.size);
  }

  #closed(id: number): void {
    if (this.#streams.delete(id)) this.#onStreams?.(this.#streams.size);
  }

  /** Remote address of the underlying socket (read by grpc-js for logs and channelz). */
  get remoteAddress(): string | undefined {
    return this.#peer.remoteAddress;
  }

  /** Remote port of the underlying socket. */
  get remotePort(): number | undefined {
    return this.#peer.remotePort;
  }

  /** Local address of the underlying socket. */
  get localAddress(): string | undefined {
    return this.#peer.localAddress;
  }

  /** Local port of the underlying socket. */
  get localPort(): number | undefined {
    return this.#peer.localPort;
  }

  /**
   * Forwards to `socket.setNoDelay()`.
   *
   * @param noDelay Disable Nagle's algorithm.
   * @returns This filter.
   */
  setNoDelay(noDelay?: boolean): this {
    this.#socket.setNoDelay?.(noDelay);
    return this;
  }

  /**
   * Forwards to `socket.setKeepAlive()`.
   *
   * @param enable Enable TCP keepalive.
   * @param initialDelay Delay before the first probe, in milliseconds.
   * @returns This filter.
   */
  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.#socket.setKeepAlive?.(enable, initialDelay);
    return this;
  }

  /**
   * Forwards to `socket.setTimeout()`.
   *
   * @param ms Idle time in milliseconds.
   * @param callback Called on timeout.
   * @returns This filter.
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.#socket.setTimeout?.(ms, callback);
    return this;
  }

  #onData(chunk: Buffer): void {
    const data = this.#inbound.strip(chunk);
    if (data !== null && !this.push(data)) this.#socket.pause();
  }

  /** Resumes the socket when grpc-js wants more. */
  override _read(): void {
    this.#socket.resume();
  }

  /**
   * Writes server bytes to the client without GOAWAY frames: a Deno grpc-js *client* can crash
   * when it receives one (seen when the daemon shuts down with clients connected).
   */
  override _write(
    chunk: Buffer,
    encoding: BufferEncoding,
    callback: (err?: Error | null) => void,
  ): void {
    const data = this.#outbound.strip(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding),
    );
    if (data === null) callback();
    else this.#socket.write(data, callback);
  }

  /** Ends the client socket after the server's last bytes. */
  override _final(callback: (err?: Error | null) => void): void {
    this.#socket.end(callback);
  }

  /** Destroys the client socket. */
  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    this.#socket.destroy();
    callback(err);
  }
}

/**
 * Pays the TLS server's one-time set-up now (~60 ms of CPU in the first `TLSSocket` a process
 * makes) rather than in the first connection: when many clients arrive at once on two busy
 * cores, that first handshake otherwise held the main thread for ~650 ms (a profile of 16
 * clients starting together), and every session with it.
 */
function warmUpServerTls(context: SecureContext): void {
  try {
    const idle = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
    const tls = new TLSSocket(idle, { isServer: true, secureContext: context });
    tls.on("error", () => {});
    tls.destroy();
    idle.destroy();
  } catch { /* only an optimisation */ }
}

/**
 * Reads a connection's first bytes until they are {@linkcode TRANSFER_PREFACE} (which it then
 * returns, consumed) or cannot become it (returned, to be put back for HTTP/2); `null` when the
 * connection ended or failed first. The stream is left paused.
 */
function readPreface(stream: FilterSocket): Promise<Buffer | typeof TRANSFER_PREFACE | null> {
  return new Promise((resolve) => {
    let head: Buffer = Buffer.alloc(0);
    const done = (value: Buffer | typeof TRANSFER_PREFACE | null): void => {
      stream.off("data", onData);
      stream.off("end", onGone);
      stream.off("close", onGone);
      stream.pause();
      resolve(value);
    };
    const onGone = (): void => done(null);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, TRANSFER_PREFACE.length);
      if (Buffer.compare(head.subarray(0, n), TRANSFER_PREFACE.subarray(0, n)) !== 0) {
        return done(head);
      }
      if (head.length < TRANSFER_PREFACE.length) return;
      // Stop listening first: bytes put back may be emitted again at once.
      done(TRANSFER_PREFACE);
      if (head.length > TRANSFER_PREFACE.length) {
        stream.unshift(head.subarray(TRANSFER_PREFACE.length));
      }
    };
    stream.on("data", onData);
    stream.once("end", onGone);
    stream.once("close", onGone);
  });
}

/** How long a connection may stay without a call in flight (from accept, or its last call). */
export const CONNECTION_IDLE_MS = 10_000;

/** First wait after a failed `accept()`; it doubles up to {@linkcode ACCEPT_BACKOFF_MAX_MS}. */
const ACCEPT_BACKOFF_MIN_MS = 10;
/** Longest wait between two `accept()` attempts while they fail (EMFILE, ENFILE, ENOBUFS). */
const ACCEPT_BACKOFF_MAX_MS = 1000;

/** Options for {@linkcode listenFiltered}. */
export interface ListenFilteredOptions {
  /** Address to bind. */
  hostname: string;
  /** Port to bind (0 = any free port). */
  port: number;
  /** Terminate TLS with this certificate and key (PEM) before the filter; absent: plaintext. */
  tls?: { cert: string; key: string } | null;
  /**
   * Decides on each accepted connection before anything is read from it (address rules,
   * connection caps); a refused one must be closed by the callback.
   */
  admit?: (socket: FilterSocket) => boolean;
  /**
   * A connection with no call in flight for this long is closed — counted from accept (so a
   * client that never makes a call, or trickles its handshake, is dropped) and from the end of
   * its last call. 0 turns it off.
   * @default {CONNECTION_IDLE_MS}
   */
  idleTimeoutMs?: number;
  /** Told of each connection closed because it had no call in flight (for the log). */
  onIdle?: (address: string) => void;
  /** Told of each failed `accept()` (descriptor exhaustion, say) and how long until the next. */
  onAcceptError?: (error: Error, retryInMs: number) => void;
  /**
   * Takes each connection that starts with {@linkcode TRANSFER_PREFACE} (after TLS), the
   * preface consumed: a transfer session's framed control stream. Absent: such a connection is
   * closed. The idle deadline no longer applies to it (the session's own deadlines do).
   */
  onTransfer?: (stream: FilterSocket, socket: FilterSocket) => void;
}

/** The listener {@linkcode listenFiltered} started. */
export interface FilteredListener {
  /** The bound port. */
  readonly port: number;
  /** `accept()` calls that failed so far (each was retried after a back-off). */
  readonly acceptErrors: number;
  /** Connections closed so far because they had no call in flight. */
  readonly idleClosed: number;
  /** Stops accepting (connections already handed to grpc-js stay with it). */
  close(): void;
  /** Resolves once the accept loop has ended (after `close()`). */
  readonly finished: Promise<void>;
}

/**
 * Accepts TCP connections and injects them into a grpc-js server through a
 * {@linkcode GoawayFilter}, instead of `server.bindAsync()`: each connection is first admitted
 * (address rules and caps, before any byte is read), then, with `tls`, decrypted here — grpc-js
 * sees plaintext HTTP/2 behind the filter, so the GOAWAY defence holds behind TLS too.
 *
 * The accept loop is Deno's (`Deno.listen`), not `node:net`'s: a failed
 * `accept()` (EMFILE when descriptors run out) is retried after a back-off of 10 ms doubling to
 * 1 s, and never stops the listener. A connection without a call in flight for `idleTimeoutMs`
 * is closed.
 *
 * Requires `--allow-net`.
 *
 * @example Usage
 * ```ts ignore
 * const server = new grpc.Server(blitServerOptions());
 * server.addService(BLIT_SERVICE, handlers);
 * const { listener, port } = await listenFiltered(server, grpc.ServerCredentials.createInsecure(), {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   admit: (socket) => gate.admit(socket),
 * });
 * // later: listener.close(); server.tryShutdown(() => {});
 * ```
 *
 * @param server The grpc-js server, with its services added.
 * @param credentials Server credentials (insecure: TLS, when on, ends here).
 * @param options Where to listen, TLS, the admission check and the idle deadline.
 * @throws {Error} When the address cannot be bound (in use, not permitted).
 * @returns The listener and its bound port.
 */
export function listenFiltered(
  server: grpc.Server,
  credentials: grpc.ServerCredentials,
  options: ListenFilteredOptions,
): Promise<{ listener: FilteredListener; port: number }> {
  const { hostname, idleTimeoutMs = CONNECTION_IDLE_MS } = options;
  let tcp: Deno.Listener;
  try {
    tcp = Deno.listen({ hostname, port: options.port, transport: "tcp" });
  } catch (error) {
    return Promise.reject(error);
  }
  // TLS with `node:tls` over the accepted connection, not `Deno.listenTls`: a Deno TLS
  // connection that never completes its handshake cannot be closed (measured with Deno 2.9.6:
  // `close()` leaves the socket open until the peer acts), so a silent or slow client would keep
  // its descriptor however long the deadlines say.
  const context = options.tls ? createSecureContext(options.tls) : null;
  if (context) warmUpServerTls(context);
  const injector = server.createConnectionInjector(credentials);
  let closed = false;
  let acceptErrors = 0;
  let idleClosed = 0;

  const serve = (conn: Deno.Conn): void => {
    // No Nagle delay: HTTP/2 window updates and small frames must leave at once (measured: with
    // it, a --force-grpc push behind TLS moved 1 MB/s).
    const socket = new ConnSocket(conn).setNoDelay(true);
    socket.on("error", () => socket.destroy());
    if (options.admit && !options.admit(socket)) {
      socket.destroy();
      return;
    }
    let stream: FilterSocket = socket;
    if (context) {
      const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
      // A failed handshake (a client that does not speak TLS, or refuses the certificate) or a
      // reset closes the connection; it never reaches grpc-js or the process.
      tls.on("error", () => socket.destroy());
      stream = tls;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const disarm = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const arm = (): void => {
      disarm();
      if (idleTimeoutMs <= 0) return;
      timer = setTimeout(() => {
        timer = undefined;
        idleClosed++;
        socket.destroy();
        options.onIdle?.(socket.remoteAddress ?? "");
      }, idleTimeoutMs);
    };
    socket.once("close", disarm);
    arm();
    readPreface(stream).then((head) => {
      if (head === null) return;
      if (head === TRANSFER_PREFACE) {
        disarm();
        if (options.onTransfer) options.onTransfer(stream, socket);
        else socket.destroy();
        return;
      }
      stream.unshift(head);
      const filter = new GoawayFilter(stream, {
        peer: socket,
        onStreams: (open) => open > 0 ? disarm() : arm(),
      });
      injector.injectConnection(filter);
    });
  };

  const finished = (async () => {
    let backoff = 0;
    while (!closed) {
      let conn: Deno.Conn;
      try {
        conn = await tcp.accept();
      } catch (error) {
        if (closed || error instanceof Deno.errors.BadResource) return;
        acceptErrors++;
        backoff = Math.min(ACCEPT_BACKOFF_MAX_MS, Math.max(ACCEPT_BACKOFF_MIN_MS, backoff * 2));
        options.onAcceptError?.(
          error instanceof Error ? error : new Error(String(error)),
          backoff,
        );
        await new Promise((resolve) => setTimeout(resolve, backoff));
        continue;
      }
      backoff = 0;
      try {
        serve(conn);
      } catch {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    }
  })();

  const port = (tcp.addr as Deno.NetAddr).port;
  const listener: FilteredListener = {
    port,
    get acceptErrors() {
      return acceptErrors;
    },
    get idleClosed() {
      return idleClosed;
    },
    close(): void {
      if (closed) return;
      closed = true;
      try {
        tcp.close();
      } catch { /* already closed */ }
    },
    finished,
  };
  return Promise.resolve({ listener, port });
}
