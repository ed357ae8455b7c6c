/**
 * A `node:stream` duplex over a `Deno.Conn`, shaped like the parts of a `node:net` socket that
 * grpc-js and the GOAWAY filter use. The daemon accepts control connections with `Deno.listen`
 * (whose accept loop it controls and which recovers from EMFILE) and hands them to grpc-js
 * through this adapter: under Deno 2.9.6 a `node:net` server silently stops accepting for good
 * after one failed `accept()` (measured: no `error` event, no further connection).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";

/** Bytes read from the connection at a time, unless {@linkcode ConnSocketOptions} says. */
const READ_BYTES = 64 * 1024;

/**
 * The connection under a {@linkcode ConnSocket}: a `Deno.Conn` (TCP or TLS), or any byte
 * connection with its reads, writes and close (a `node:tls` one, `tls_client.ts`).
 */
export interface ByteConn {
  /** Reads into `p`; resolves to the byte count, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to the byte count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the connection. */
  close(): void;
  /** The peer's address, when known. */
  readonly remoteAddr?: Deno.Addr;
  /** The local address, when known. */
  readonly localAddr?: Deno.Addr;
}

/** Options of {@linkcode ConnSocket}. */
export interface ConnSocketOptions {
  /**
   * Keep the writing side open after the peer's end (a TLS layer on top wants that; a
   * `node:net` server socket does not).
   * @default {false}
   */
  allowHalfOpen?: boolean;
  /**
   * Bytes read from the connection at a time.
   * @default {65536}
   */
  readBytes?: number;
}

/**
 * A duplex over an accepted (or dialled) `Deno.Conn`: reads only when the consumer wants more
 * (back-pressure reaches the kernel), writes in order, and closes the connection when destroyed.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { ConnSocket } from "./conn_socket.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const dialled = Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const socket = new ConnSocket(await listener.accept());
 * const client = await dialled;
 * const arrived = new Promise<Uint8Array>((resolve) => socket.once("data", resolve));
 * await client.write(new TextEncoder().encode("hi"));
 * strictEqual(new TextDecoder().decode(await arrived), "hi");
 * const closed = new Promise((resolve) => socket.once("close", resolve));
 * socket.destroy();
 * await closed;
 * client.close();
 * listener.close();
 * ```
 */
export class ConnSocket extends Duplex {
  readonly #conn: ByteConn;
  readonly #readBytes: number;
  #reading = false;
  #wanted = false;
  #held = false;
  #release: (() => void) | null = null;
  #timeoutMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The peer's address (IPv6 without brackets). */
  readonly remoteAddress: string | undefined;
  /** The peer's port. */
  readonly remotePort: number | undefined;
  /** The local address. */
  readonly localAddress: string | undefined;
  /** The local port. */
  readonly localPort: number | undefined;

  /**
   * Wraps a connection; it is owned (and closed) by the socket from now on. Like a `node:net`
   * server socket, it ends (and closes) with the peer's end unless `allowHalfOpen`.
   * @param conn The connection.
   * @param options Half-open behaviour and read size.
   */
  constructor(conn: ByteConn, options: ConnSocketOptions = {}) {
    super({ allowHalfOpen: options.allowHalfOpen ?? false });
    this.#conn = conn;
    this.#readBytes = options.readBytes ?? READ_BYTES;
    const remote = (conn.remoteAddr ?? {}) as Partial<Deno.NetAddr>;
    const local = (conn.localAddr ?? {}) as Partial<Deno.NetAddr>;
    this.remoteAddress = remote.hostname;
    this.remotePort = remote.port;
    this.localAddress = local.hostname;
    this.localPort = local.port;
  }

  /**
   * Stops (`true`) or resumes (`false`) reading from the connection, whatever the consumer
   * wants (a TLS layer on top uses it for flow control of its own).
   * @param held Whether to stop reading.
   */
  hold(held: boolean): void {
    this.#held = held;
    if (!held) {
      const release = this.#release;
      this.#release = null;
      release?.();
    }
  }

  /** Reads until the consumer has enough, the connection ends, or it fails. */
  override _read(): void {
    this.#wanted = true;
    if (!this.#reading) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#wanted && !this.destroyed) {
        if (this.#held) {
          await new Promise<void>((resolve) => this.#release = resolve);
          continue;
        }
        this.#wanted = false;
        const buffer = new Uint8Array(this.#readBytes);
        const got = await this.#conn.read(buffer);
        this.#touch();
        if (got === null) {
          this.push(null);
          return;
        }
        // A short read is copied out, so that a peer sending tiny pieces cannot make each
        // buffered byte hold a whole read buffer; `push` says whether to go on (a `_read`
        // meanwhile says so too).
        const chunk = got * 4 < this.#readBytes
          ? Buffer.from(buffer.subarray(0, got))
          : Buffer.from(buffer.buffer, 0, got);
        if (this.push(chunk)) this.#wanted = true;
      }
    } catch (error) {
      if (!this.destroyed) this.destroy(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#reading = false;
    }
  }

  /** Writes one chunk completely. */
  override _write(
    chunk: Buffer,
    encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding);
    (async () => {
      let off = 0;
      while (off < bytes.length) {
        off += await this.#conn.write(bytes.subarray(off));
        this.#touch();
      }
    })().then(() => callback(), (error) => callback(error as Error));
  }

  /** Writes the chunks queued meanwhile as one (one system call instead of many small ones). */
  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    const parts = chunks.map(({ chunk, encoding }) =>
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding)
    );
    this._write(Buffer.concat(parts), "binary", callback);
  }

  /** Half-closes the connection after the last write. */
  override _final(callback: (error?: Error | null) => void): void {
    const conn = this.#conn as ByteConn & { closeWrite?: () => Promise<void> };
    if (!conn.closeWrite) return callback();
    conn.closeWrite().then(() => callback(), () => callback());
  }

  /** Closes the connection. */
  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    clearTimeout(this.#timer);
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.hold(false);
    callback(error);
  }

  /**
   * Sets `TCP_NODELAY` when the connection is a TCP one.
   * @param noDelay Disable Nagle's algorithm.
   * @returns This socket.
   */
  setNoDelay(noDelay = true): this {
    try {
      (this.#conn as Partial<Deno.TcpConn>).setNoDelay?.(noDelay);
    } catch { /* closed, or not TCP */ }
    return this;
  }

  /**
   * Sets TCP keepalive when the connection is a TCP one (the delay is the system's).
   * @param enable Enable keepalive.
   * @returns This socket.
   */
  setKeepAlive(enable = false): this {
    try {
      (this.#conn as Partial<Deno.TcpConn>).setKeepAlive?.(enable);
    } catch { /* closed, or not TCP */ }
    return this;
  }

  /**
   * Emits `timeout` (and calls `callback`) after `ms` without reads or writes; 0 turns it off.
   * @param ms Idle time in milliseconds.
   * @param callback Called on timeout.
   * @returns This socket.
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.#timeoutMs = ms;
    if (callback) this.once("timeout", callback);
    this.#touch();
    return this;
  }

  #touch(): void {
    if (this.#timeoutMs <= 0) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.emit("timeout"), this.#timeoutMs);
  }
}
