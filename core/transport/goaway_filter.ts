/**
 * Server-side defence against the Deno/nghttp2 abort on a received GOAWAY (denoland/deno#36788):
 * the daemon accepts TCP itself and hands grpc-js a stream from which every HTTP/2 GOAWAY frame
 * has been removed, in both directions (a Deno client can crash on a server's GOAWAY too). A client that closes gracefully then looks to the server
 * like a peer that simply hung up, which Deno handles without crashing.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { createSecureContext, TLSSocket } from "node:tls";
import { Duplex } from "node:stream";
import type * as grpc from "@grpc/grpc-js";

/** Length of the client connection preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`. */
const PREFACE_BYTES = 24;
/** Length of an HTTP/2 frame header. */
const FRAME_HEADER_BYTES = 9;
/** HTTP/2 frame type of GOAWAY. */
const GOAWAY_TYPE = 0x7;

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

  /** @param prefaceBytes Bytes to pass before the first frame (the client preface, or 0). */
  constructor(prefaceBytes: number) {
    this.#prefaceLeft = prefaceBytes;
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
 * A duplex over a client socket that passes every byte through except HTTP/2 GOAWAY frames
 * arriving from the client. It never buffers more than one frame header (9 bytes): payloads are
 * forwarded (or skipped) as they arrive.
 */
export class GoawayFilter extends Duplex {
  #socket: Socket;
  #peer: Socket;
  #inbound = new GoawayStripper(PREFACE_BYTES);
  #outbound = new GoawayStripper(0);

  /** GOAWAY frames removed from the client's bytes so far. */
  get dropped(): number {
    return this.#inbound.dropped;
  }

  /** GOAWAY frames removed from the server's bytes so far. */
  get droppedOutbound(): number {
    return this.#outbound.dropped;
  }

  /**
   * Wraps an accepted socket.
   *
   * @param socket The socket accepted from the client (or the TLS socket over it).
   * @param peer The TCP socket the addresses are read from (default: `socket`): a TLS socket
   *   made over an accepted one does not always report them.
   */
  constructor(socket: Socket, peer: Socket = socket) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.#peer = peer;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => this.push(null));
    socket.on("error", (err: Error) => this.destroy(err));
    socket.on("close", () => this.destroy());
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
    return this.#socket.localAddress;
  }

  /** Local port of the underlying socket. */
  get localPort(): number | undefined {
    return this.#socket.localPort;
  }

  /**
   * Forwards to `socket.setNoDelay()`.
   *
   * @param noDelay Disable Nagle's algorithm.
   * @returns This filter.
   */
  setNoDelay(noDelay?: boolean): this {
    this.#socket.setNoDelay(noDelay);
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
    this.#socket.setKeepAlive(enable, initialDelay);
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
    this.#socket.setTimeout(ms, callback);
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
  admit?: (socket: Socket) => boolean;
}

/**
 * Accepts TCP connections and injects them into a grpc-js server through a
 * {@linkcode GoawayFilter}, instead of `server.bindAsync()`: each connection is first admitted
 * (address rules and caps, before any byte is read), then, with `tls`, decrypted here — grpc-js
 * sees plaintext HTTP/2 behind the filter, so the GOAWAY defence holds behind TLS too.
 *
 * @param server The grpc-js server, with its services added.
 * @param credentials Server credentials (insecure: TLS, when on, ends here).
 * @param options Where to listen, TLS, and the admission check.
 * @returns The listening `node:net` server and its bound port.
 */
export function listenFiltered(
  server: grpc.Server,
  credentials: grpc.ServerCredentials,
  options: ListenFilteredOptions,
): Promise<{ listener: NetServer; port: number }> {
  const injector = server.createConnectionInjector(credentials);
  const context = options.tls ? createSecureContext(options.tls) : null;
  const inject = (raw: Socket): void => {
    const socket = context ? new TLSSocket(raw, { isServer: true, secureContext: context }) : raw;
    // A failed handshake (a client that does not speak TLS, or refuses the certificate) closes
    // the connection; it never reaches grpc-js.
    socket.on("error", () => raw.destroy());
    injector.injectConnection(new GoawayFilter(socket, raw));
  };
  const listener = createServer((raw) => {
    if (options.admit && !options.admit(raw)) return;
    // Under Deno, a TLS socket made over a connection whose client leaves before its first byte
    // never reports the close (measured: no 'close', no 'error'), which would leak the
    // connection's slot; wrapping at the first byte (or the end) avoids that.
    if (context) raw.once("readable", () => inject(raw));
    else inject(raw);
  });
  return new Promise((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(options.port, options.hostname, () => {
      const address = listener.address();
      resolve({ listener, port: typeof address === "object" && address ? address.port : 0 });
    });
  });
}
