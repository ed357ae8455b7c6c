/**
 * Counts the bytes a client's session moves on its sockets (the control connection and every
 * data-plane connection), for `bytes_on_wire` in the run's summary.
 *
 * Without TLS the count is exact: what was written to and read from the TCP sockets. With TLS
 * Deno's TLS layer sits between this code and the socket, so the meter counts the plaintext and
 * adds what TLS 1.3 wraps around it: {@linkcode TLS_RECORD_OVERHEAD} bytes per record of at most
 * 16 KiB (one record per write, or more for a large one; the reading side's records are counted
 * the same way by size) and {@linkcode TLS_HANDSHAKE_BYTES} per connection for the handshake.
 * The remote bench checks the total against the kernel's count for the loopback interface.
 *
 * @module
 */

/** Bytes TLS 1.3 adds to each record (5-byte header, content type, 16-byte AEAD tag). */
export const TLS_RECORD_OVERHEAD = 22;

/** Largest plaintext of one TLS record. */
export const TLS_RECORD_BYTES = 16 * 1024;

/**
 * Bytes of one TLS 1.3 handshake with a P-256 certificate, both directions (ClientHello,
 * ServerHello to Finished with the certificate, the client's Finished, session tickets);
 * measured against the loopback interface's counters.
 */
export const TLS_HANDSHAKE_BYTES = 3_000;

/** The part of a connection the meter wraps. */
export interface MeteredConn {
  /** Reads into `p`; resolves to the byte count, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to the byte count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the connection. */
  close(): void;
  /** Ends the writing side, when the connection can. */
  closeWrite?: () => Promise<void>;
  /** A TLS connection's handshake (its presence marks TLS). */
  handshake?: () => Promise<unknown>;
}

/**
 * The byte count of one session's connections.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { WireMeter } from "./wire_meter.ts";
 * const meter = new WireMeter();
 * const conn = meter.wrap({
 *   read: () => Promise.resolve(10),
 *   write: (p: Uint8Array) => Promise.resolve(p.length),
 *   close: () => {},
 * }, { tls: false });
 * await conn.write(new Uint8Array(5));
 * await conn.read(new Uint8Array(64));
 * strictEqual(meter.bytesOnWire, 15);
 * ```
 */
export class WireMeter {
  #bytes = 0;

  /** Bytes counted so far (see the module doc for what TLS adds). */
  get bytesOnWire(): number {
    return this.#bytes;
  }

  /**
   * Wraps a connection so that its reads and writes are counted.
   * @param conn The connection.
   * @param options Whether TLS runs on it.
   * @returns A counting connection with the original's `read`, `write`, `close`, `closeWrite`.
   */
  wrap(conn: MeteredConn, options: { tls: boolean }): MeteredConn {
    const tls = options.tls;
    if (tls) this.#bytes += TLS_HANDSHAKE_BYTES;
    const counted: MeteredConn = {
      read: async (p) => {
        const n = await conn.read(p);
        if (n !== null) this.#count(n, tls);
        return n;
      },
      write: async (p) => {
        const n = await conn.write(p);
        this.#count(n, tls);
        return n;
      },
      close: () => conn.close(),
    };
    if (conn.closeWrite) counted.closeWrite = () => conn.closeWrite!();
    if (conn.handshake) counted.handshake = () => conn.handshake!();
    return counted;
  }

  #count(bytes: number, tls: boolean): void {
    this.#bytes += bytes;
    if (tls && bytes > 0) this.#bytes += Math.ceil(bytes / TLS_RECORD_BYTES) * TLS_RECORD_OVERHEAD;
  }
}
