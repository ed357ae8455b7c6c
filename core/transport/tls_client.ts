/**
 * The client side of TLS to a daemon, over `node:tls`: a certificate pinned from the known-hosts
 * file (trust on first use, as ssh does) or a chain checked against CA certificates and the host
 * name. One rule serves the data plane ({@linkcode connectTls}) and the gRPC channel
 * ({@linkcode grpcChannelCredentials}).
 *
 * **Pin rule.** The pinned certificate is the only trusted root (`ca`), and the SHA-256 of the
 * certificate the daemon presents must equal the pinned fingerprint, checked in
 * `checkServerIdentity` and again after the handshake: Node calls `checkServerIdentity` only
 * when the chain verified, so both checks are needed for a clear refusal. {@linkcode connectTls}
 * lets the handshake finish with `rejectUnauthorized: false` so that it can name the certificate a
 * man in the middle presented ({@linkcode CertificateMismatchError}), and then accepts only an
 * authorized connection whose fingerprint matches; nothing is written before that check.
 *
 * **Transport.** `node:tls` runs over a duplex around a `Deno.Conn` rather than its own socket:
 * under Deno 2.9, pausing a `TLSSocket` does not stop it reading from its native socket (a slow
 * reader would buffer all the daemon sends) and a `TLSSocket` paused when the peer's EOF arrives
 * never emits `end`. Here the TLS socket never pauses; reading from TCP stops instead once about
 * 1 MiB of plaintext waits for the caller, and TCP flow control holds the daemon back.
 *
 * **IP targets under Deno.** Deno's `tls.connect()` throws when `servername` is an IP address,
 * and grpc-js always sets `servername` to the target's host; {@linkcode grpcChannelOptions}
 * supplies a `grpc.ssl_target_name_override` for IP targets (a name under `.invalid` that encodes
 * the address, so that the CA mode still checks the certificate against the IP itself).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { ConnSocket } from "./conn_socket.ts";
import * as tls from "node:tls";
import { describeError } from "../errors.ts";
import { derToPem } from "../pem.ts";
import { connectTcp } from "./connect_tcp.ts";
import {
  CertificateMismatchError,
  connectDataPlane,
  type DataPlaneConn,
  hostPort,
  type TlsVerify,
  unbracket,
} from "./tls_pin.ts";

export {
  CertificateMismatchError,
  connectDataPlane,
  type DataPlaneConn,
  type TlsVerify,
  unbracket,
};

/** A TLS connection with `Deno.Conn`-like reads and writes (see {@linkcode connectTls}). */
export interface TlsByteConn {
  /** Reads into `p`; resolves to the byte count, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes all of `p`; resolves once the connection took the bytes (`p` may then be reused). */
  write(p: Uint8Array): Promise<number>;
  /**
   * Ends the connection: bytes already written are still delivered, then TLS close_notify and
   * the socket closes. A pending read rejects.
   */
  close(): void;
  /** `SHA256:…` of the certificate the daemon presented. */
  readonly fingerprint: string;
}

/** Buffered plaintext above which reading from TCP stops. */
const READ_HIGH_WATER = 1024 * 1024;
/** Buffered plaintext below which reading from TCP resumes. */
const READ_LOW_WATER = 256 * 1024;
/** Writes smaller than this are copied and may resolve before they are flushed. */
const COPY_WRITE_LIMIT = 64 * 1024;
/** Bytes the socket may hold for a small write to resolve before it is flushed. */
const WRITE_BUFFER_BYTES = 256 * 1024;
/** How long {@linkcode TlsByteConn.close} waits for the daemon to close before destroying. */
const CLOSE_GRACE_MS = 5_000;

/**
 * Reads a daemon's certificate without trusting it (for trust on first use): connects, finishes
 * the handshake without verification, and closes. Nothing is sent besides the handshake.
 *
 * Requires `--allow-net`.
 *
 * @example Usage
 * ```ts ignore
 * import { probeServerCertificate } from "./tls_client.ts";
 * const { fingerprint } = await probeServerCertificate("backup.lan", 9031, 10_000);
 * console.log(`The daemon's certificate is ${fingerprint}`);
 * ```
 *
 * @param host Host name or IP address.
 * @param port TCP port.
 * @param timeoutMs Longest time for the connection and the handshake together.
 * @throws {Error} "Cannot reach …" or "Cannot start TLS with …", one line.
 * @returns The certificate (DER) and its fingerprint.
 */
export async function probeServerCertificate(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<{ certificate: Uint8Array; fingerprint: string }> {
  const { socket, transport } = await handshake(host, port, timeoutMs, {
    rejectUnauthorized: false,
  });
  const certificate = peerCertificate(socket);
  socket.end(() => {
    socket.destroy();
    transport.destroy();
  });
  if (certificate === null) {
    throw new Error(`Cannot read the certificate of ${hostPort(host, port)}: it sent none`);
  }
  return { certificate, fingerprint: fingerprintOf(certificate) };
}

/**
 * Opens a TLS connection to a daemon and verifies it: with `pin`, the daemon must present exactly
 * the pinned certificate; with `ca`, a chain to one of the CA certificates, valid for `host`.
 * The returned connection reads and writes like a `Deno.Conn`, with incoming bytes buffered up to
 * about 1 MiB (reading from TCP stops beyond).
 *
 * Requires `--allow-net`.
 *
 * @example Usage
 * ```ts ignore
 * import { connectTls } from "./tls_client.ts";
 * import { lookupKnownHost, defaultKnownHostsPath } from "../known_hosts.ts";
 * const known = await lookupKnownHost(defaultKnownHostsPath(), "backup.lan", 9031);
 * if (known) {
 *   const conn = await connectTls("backup.lan", 9031, { kind: "pin", ...known }, 10_000);
 *   await conn.write(new TextEncoder().encode("token"));
 *   conn.close();
 * }
 * ```
 *
 * @param host Host name or IP address.
 * @param port TCP port.
 * @param verify How the certificate is trusted.
 * @param timeoutMs Longest time for the connection and the handshake together.
 * @throws {CertificateMismatchError} If a pinned daemon presents another certificate.
 * @throws {Error} "Cannot reach …", "Cannot start TLS with …" or "Cannot verify …", one line.
 * @returns The verified connection.
 */
export async function connectTls(
  host: string,
  port: number,
  verify: TlsVerify,
  timeoutMs: number,
): Promise<TlsByteConn> {
  const options: tls.ConnectionOptions = verify.kind === "pin"
    ? {
      ca: [derToPem(verify.certificate)],
      checkServerIdentity: pinCheck(
        verify.fingerprint,
        (actual) => new CertificateMismatchError(host, port, verify.fingerprint, actual),
      ),
      // Verified below, after the handshake, so that a mismatch can name the certificate.
      rejectUnauthorized: false,
    }
    : { ca: [verify.caPem], rejectUnauthorized: true };
  const { socket, transport } = await handshake(host, port, timeoutMs, options);
  const certificate = peerCertificate(socket);
  const actual = certificate === null ? "(none)" : fingerprintOf(certificate);
  let refusal: Error | null = null;
  if (verify.kind === "pin" && actual !== verify.fingerprint) {
    refusal = new CertificateMismatchError(host, port, verify.fingerprint, actual);
  } else if (!socket.authorized) {
    refusal = new Error(
      `Cannot verify ${hostPort(host, port)}: its certificate ${actual} failed verification (${
        String(socket.authorizationError)
      }); the daemon needs a valid certificate`,
    );
  }
  if (refusal !== null) {
    socket.destroy();
    transport.destroy();
    throw refusal;
  }
  return new NodeTlsConn(socket, transport, actual);
}

/**
 * A `checkServerIdentity` of the pin rule: the certificate's fingerprint must be the pinned one.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import type { PeerCertificate } from "node:tls";
 * import { pinCheck } from "./tls_client.ts";
 * const check = pinCheck("SHA256:x", (actual) => new Error(`got ${actual}`));
 * ok(check("nas", { raw: new Uint8Array([1]) } as unknown as PeerCertificate) instanceof Error);
 * ```
 *
 * @param expected The pinned fingerprint.
 * @param mismatch Builds the error for another certificate.
 * @returns The check (`undefined`: the pinned certificate).
 */
export function pinCheck(
  expected: string,
  mismatch: (actual: string, hostname: string) => Error,
): (hostname: string, cert: tls.PeerCertificate) => Error | undefined {
  return function checkPinned(hostname: string, cert: tls.PeerCertificate): Error | undefined {
    const raw: Uint8Array | undefined = cert.raw;
    const actual = raw === undefined ? "(none)" : fingerprintOf(raw);
    return actual === expected ? undefined : mismatch(actual, hostname);
  };
}

/** The certificate fingerprint, computed synchronously (same value as `certificateFingerprint`). */
function fingerprintOf(der: Uint8Array): string {
  return "SHA256:" + createHash("sha256").update(der).digest("base64").replace(/=+$/, "");
}

function peerCertificate(socket: tls.TLSSocket): Uint8Array | null {
  const raw: Buffer | undefined = socket.getPeerCertificate(true)?.raw;
  return raw === undefined || raw.length === 0 ? null : new Uint8Array(raw);
}

/** Node error codes that mean the certificate was refused (chain, validity, or host name). */
const CERT_ERROR_REGEXP = /CERT|UNABLE_TO|SELF_SIGNED|INVALID_CA|PATH_LENGTH|INVALID_PURPOSE/;
/** Node error codes for bytes that are not TLS (the daemon runs without TLS). */
const NOT_TLS_REGEXP = /WRONG_VERSION_NUMBER|UNKNOWN_PROTOCOL|RECORD|PACKET_LENGTH|HTTP_REQUEST/;

const NO_TLS_HINT = "is it running with tls = false? then pass --no-tls";

/**
 * Connects (TCP, then the TLS handshake), turning every failure into one line. Resolves on
 * `secureConnect` (authorized or not, depending on `rejectUnauthorized`).
 */
async function handshake(
  host: string,
  port: number,
  timeoutMs: number,
  options: tls.ConnectionOptions,
): Promise<{ socket: tls.TLSSocket; transport: ConnSocket }> {
  const bare = unbracket(host);
  const where = hostPort(bare, port);
  const started = Date.now();
  const conn = await connectTcp(bare, port, { timeoutMs });
  const transport = new ConnSocket(conn, { allowHalfOpen: true, readBytes: TCP_READ_BYTES });
  const left = Math.max(1, timeoutMs - (Date.now() - started));
  return await new Promise((resolve, reject) => {
    let settled = false;
    let socket: tls.TLSSocket;
    try {
      socket = tls.connect({
        ...options,
        socket: transport,
        // Over a given socket, `host` is only the name the certificate is checked against
        // (without it Node checks "localhost").
        host: bare,
        // Deno refuses an IP address as SNI (and RFC 6066 forbids it).
        ...(isIP(bare) === 0 ? { servername: bare } : {}),
      });
    } catch (error) {
      transport.destroy();
      reject(
        new Error(`Cannot start TLS with ${where}: ${(error as Error).message}`, { cause: error }),
      );
      return;
    }
    const settle = (error: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off("secureConnect", onSecure);
      socket.off("error", onError);
      socket.off("close", onClose);
      if (error === null) {
        // Until the caller attaches its own listener, a late error must not go unhandled; the
        // caller sees it through `socket.errored`.
        socket.on("error", () => {});
        resolve({ socket, transport });
      } else {
        socket.destroy();
        transport.destroy();
        reject(error);
      }
    };
    const onSecure = (): void => settle(null);
    const onError = (error: Error): void => settle(describeTlsError(error, where));
    const onClose = (): void =>
      settle(
        new Error(
          `Cannot start TLS with ${where}: the connection closed during the handshake (the daemon may refuse this address; or, ${NO_TLS_HINT})`,
        ),
      );
    const timer = setTimeout(() => {
      const seconds = timeoutMs / 1000;
      settle(
        new Error(
          `Cannot start TLS with ${where}: no TLS answer after ${seconds} s (${NO_TLS_HINT})`,
        ),
      );
    }, left);
    socket.on("secureConnect", onSecure);
    socket.on("error", onError);
    socket.on("close", onClose);
  });
}

function describeTlsError(error: Error, where: string): Error {
  if (error instanceof CertificateMismatchError) return error;
  const code = String((error as { code?: unknown }).code ?? "");
  if (NOT_TLS_REGEXP.test(code)) {
    return new Error(
      `Cannot start TLS with ${where}: the daemon does not speak TLS (${NO_TLS_HINT})`,
      { cause: error },
    );
  }
  if (CERT_ERROR_REGEXP.test(code)) {
    return new Error(
      `Cannot verify ${where}: ${error.message} (${code}); check the CA certificates and the host name`,
      { cause: error },
    );
  }
  if (code === "ECONNRESET" || error instanceof Deno.errors.ConnectionReset) {
    return new Error(
      `Cannot start TLS with ${where}: the connection closed during the handshake (the daemon may refuse this address; or, ${NO_TLS_HINT})`,
      { cause: error },
    );
  }
  return new Error(`Cannot start TLS with ${where}: ${describeError(error)}`, { cause: error });
}

/** Size of each read from the TCP connection. */
const TCP_READ_BYTES = 256 * 1024;

/** {@linkcode TlsByteConn} over a verified `TLSSocket`. */
class NodeTlsConn implements TlsByteConn {
  readonly fingerprint: string;
  #socket: tls.TLSSocket;
  #transport: ConnSocket;
  #chunks: Buffer[] = [];
  /** Bytes of `#chunks[0]` already read. */
  #offset = 0;
  #buffered = 0;
  #held = false;
  #ended = false;
  #closed = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  /** Rejecters of writes not yet settled, failed together when the socket fails or closes. */
  #pendingWrites = new Set<(error: Error) => void>();

  constructor(socket: tls.TLSSocket, transport: ConnSocket, fingerprint: string) {
    this.#socket = socket;
    this.#transport = transport;
    this.fingerprint = fingerprint;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => this.#fail(error));
    socket.on("close", () => {
      if (!this.#ended && !this.#closed) this.#fail(new Error("the connection was reset"));
      this.#ended = true;
      this.#failWrites(new Error("Cannot write: the TLS connection is closed"));
      this.#notify();
    });
    if (socket.errored) this.#fail(socket.errored);
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered > READ_HIGH_WATER && !this.#held) this.#hold(true);
    this.#notify();
  }

  #hold(held: boolean): void {
    this.#held = held;
    this.#transport.hold(held);
  }

  #fail(error: Error): void {
    this.#error ??= new Error(`Cannot use the TLS connection: ${describeError(error)}`, {
      cause: error,
    });
    this.#failWrites(this.#error);
    this.#notify();
  }

  #failWrites(error: Error): void {
    for (const reject of this.#pendingWrites) reject(error);
    this.#pendingWrites.clear();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#buffered === 0) {
      if (this.#closed) throw new Error("Cannot read: the TLS connection is closed");
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return null;
      if (this.#held) this.#hold(false);
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let copied = 0;
    while (copied < p.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0]!;
      const n = Math.min(p.length - copied, chunk.length - this.#offset);
      p.set(chunk.subarray(this.#offset, this.#offset + n), copied);
      copied += n;
      this.#offset += n;
      if (this.#offset === chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    this.#buffered -= copied;
    if (this.#held && this.#buffered <= READ_LOW_WATER) this.#hold(false);
    return copied;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(new Error("Cannot write: the TLS connection is closed"));
    }
    if (this.#error !== null) return Promise.reject(this.#error);
    const n = p.length;
    if (n === 0) return Promise.resolve(0);
    // A large write is handed over as it is and resolves when the socket is done with it (the
    // caller may then reuse `p`). A small one is copied and resolves at once while the socket
    // holds little: the many small writes of headers stay cheap, and memory stays bounded.
    const copy = n < COPY_WRITE_LIMIT;
    return new Promise((resolve, reject) => {
      const fail = (error: Error): void => {
        this.#pendingWrites.delete(fail);
        reject(error);
      };
      this.#pendingWrites.add(fail);
      const chunk = copy ? Buffer.from(p) : Buffer.from(p.buffer, p.byteOffset, n);
      this.#socket.write(chunk, (error?: Error | null) => {
        if (error) this.#fail(error);
        else if (this.#pendingWrites.delete(fail)) resolve(n);
      });
      if (
        copy && this.#socket.writableLength <= WRITE_BUFFER_BYTES &&
        this.#pendingWrites.delete(fail)
      ) {
        resolve(n);
      }
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#notify();
    const socket = this.#socket;
    if (socket.destroyed) return;
    // Keep reading (and dropping) so that the daemon's close is seen.
    if (this.#held) this.#hold(false);
    // Flush what was written, send close_notify, then give the daemon a moment to close.
    const timer = setTimeout(() => {
      socket.destroy();
      this.#transport.destroy();
    }, CLOSE_GRACE_MS);
    Deno.unrefTimer(timer);
    socket.once("close", () => {
      clearTimeout(timer);
      this.#transport.destroy();
    });
    socket.end();
  }
}
