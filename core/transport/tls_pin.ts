/**
 * The client's TLS to a daemon whose certificate is pinned and carries {@linkcode PINNED_NAME}
 * (every certificate blitd generates), with Deno's own TLS and no `node:` module: the control
 * connection and the data plane of a transfer load nothing more. `tls_client.ts` has the rest
 * (`node:tls` for an operator's certificate or a CA, and reading a certificate on first contact).
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { derToPem, PINNED_NAME } from "../pem.ts";
import { withDeadline } from "./deadline.ts";
import { connectTcp } from "./connect_tcp.ts";

/** How a daemon's certificate is trusted. */
export type TlsVerify =
  | {
    /** Trust exactly one certificate (from the known-hosts file). */
    kind: "pin";
    /** The pinned certificate, DER. */
    certificate: Uint8Array;
    /** Its `SHA256:…` fingerprint. */
    fingerprint: string;
  }
  | {
    /** Verify the chain against CA certificates and the host name. */
    kind: "ca";
    /** The CA certificates, PEM (one or more blocks). */
    caPem: string;
  };

/**
 * Thrown when a daemon presents a certificate other than the pinned one: it was replaced, or
 * someone is in the middle.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { CertificateMismatchError } from "./tls_pin.ts";
 * const error = new CertificateMismatchError("nas", 9031, "SHA256:old", "SHA256:new");
 * strictEqual(error.actual, "SHA256:new");
 * ```
 */
export class CertificateMismatchError extends Error {
  /** The daemon's host, as dialled. */
  readonly host: string;
  /** The daemon's port. */
  readonly port: number;
  /** The pinned fingerprint. */
  readonly expected: string;
  /** The fingerprint of the certificate presented. */
  readonly actual: string;

  /**
   * Creates a mismatch error.
   * @param host The daemon's host, as dialled.
   * @param port The daemon's port.
   * @param expected The pinned fingerprint.
   * @param actual The fingerprint of the certificate presented.
   */
  constructor(host: string, port: number, expected: string, actual: string) {
    const where = hostPort(host, port);
    super(
      `Cannot trust ${where}: it presented certificate ${actual}, but ${expected} is pinned for it; someone may be intercepting the connection, or the daemon's certificate was replaced: if you expect that, run "blit known-hosts forget ${where}"`,
    );
    this.name = "CertificateMismatchError";
    this.host = host;
    this.port = port;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * Whether a DER certificate carries {@linkcode PINNED_NAME} (a dNSName is stored as plain
 * ASCII), so that {@linkcode connectPinned} can verify it.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { carriesPinnedName } from "./tls_pin.ts";
 * strictEqual(carriesPinnedName(new TextEncoder().encode("no name here")), false);
 * ```
 *
 * @param der The certificate, DER.
 * @returns Whether the name occurs in it.
 */
export function carriesPinnedName(der: Uint8Array): boolean {
  const name = new TextEncoder().encode(PINNED_NAME);
  outer: for (let i = 0; i + name.length <= der.length; i++) {
    for (let j = 0; j < name.length; j++) if (der[i + j] !== name[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * Opens a TLS connection to a daemon whose pinned certificate carries {@linkcode PINNED_NAME}:
 * `Deno.startTls` with the pinned certificate as the only extra CA, asking for that name — a
 * different certificate fails to verify (`BadSignature`), and no public CA can issue the
 * `.invalid` name. Deno's TLS also moves bulk data about half again as fast as `node:tls` here.
 *
 * Requires `--allow-net`.
 *
 * @example Usage
 * ```ts ignore
 * import { connectPinned } from "./tls_pin.ts";
 * const conn = await connectPinned("nas", 9031, verify, 3_000);
 * ```
 *
 * @param host Host name or IP address (IPv6 with or without brackets).
 * @param port The port.
 * @param verify The pin (its certificate must carry the name).
 * @param timeoutMs Longest time for the connection and the handshake together.
 * @throws {Error} "Cannot reach …", a `TimeoutError`, or "Cannot verify …", one line.
 * @returns The verified connection.
 */
export async function connectPinned(
  host: string,
  port: number,
  verify: Extract<TlsVerify, { kind: "pin" }>,
  timeoutMs: number,
): Promise<Deno.TlsConn> {
  const bare = unbracket(host);
  const where = hostPort(bare, port);
  const started = Date.now();
  const tcp = await connectTcp(bare, port, { timeoutMs });
  let conn: Deno.TlsConn | null = null;
  try {
    conn = await Deno.startTls(tcp, {
      hostname: PINNED_NAME,
      caCerts: [derToPem(verify.certificate)],
    });
    const shaking = conn.handshake();
    await withDeadline(shaking, {
      timeoutMs: Math.max(1, timeoutMs - (Date.now() - started)),
      action: `start TLS with ${where}`,
      onTimeout: () => conn?.close(),
    });
    return conn;
  } catch (error) {
    try {
      (conn ?? tcp).close();
    } catch { /* already closed */ }
    if (error instanceof Error && error.name === "TimeoutError") throw error;
    throw new Error(
      `Cannot verify ${where}: it did not present the pinned certificate ${verify.fingerprint} (${
        describeError(error)
      })`,
      { cause: error },
    );
  }
}

/** A data-plane connection: the part of `Deno.Conn` the payload code uses. */
export interface DataPlaneConn {
  /** Reads into `p`; resolves to the byte count, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to the byte count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the connection. */
  close(): void;
}

/**
 * Opens a connection to a daemon (its control port, or a data port) with a trust rule: with a
 * pinned certificate that carries {@linkcode PINNED_NAME}, {@linkcode connectPinned}; otherwise
 * (an operator's certificate, or `--tls-ca`) `connectTls` of `tls_client.ts`, loaded then.
 *
 * Requires `--allow-net`.
 *
 * @example Usage
 * ```ts ignore
 * import { connectDataPlane } from "./tls_pin.ts";
 * const conn = await connectDataPlane("nas", 40123, verify, 3_000);
 * ```
 *
 * @param host Host name or IP address.
 * @param port The data port.
 * @param verify How the certificate is trusted.
 * @param timeoutMs Longest time for the connection and the handshake together.
 * @throws {Error} "Cannot reach …", "Cannot start TLS with …" or "Cannot verify …", one line.
 * @returns The verified connection.
 */
export async function connectDataPlane(
  host: string,
  port: number,
  verify: TlsVerify,
  timeoutMs: number,
): Promise<DataPlaneConn> {
  if (verify.kind === "pin" && carriesPinnedName(verify.certificate)) {
    return await connectPinned(host, port, verify, timeoutMs);
  }
  const { connectTls } = await import("./tls_client.ts");
  return await connectTls(host, port, verify, timeoutMs);
}

/**
 * A host without the brackets of an IPv6 literal.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { unbracket } from "./tls_pin.ts";
 * strictEqual(unbracket("[::1]"), "::1");
 * ```
 *
 * @param host A host name or address, IPv6 with or without brackets.
 * @returns The host without brackets.
 */
export function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * `HOST:PORT` for messages, IPv6 in brackets.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { hostPort } from "./tls_pin.ts";
 * strictEqual(hostPort("::1", 9031), "[::1]:9031");
 * ```
 *
 * @param host A host name or address, IPv6 with or without brackets.
 * @param port The port.
 * @returns The address as printed.
 */
export function hostPort(host: string, port: number): string {
  const bare = unbracket(host);
  return bare.includes(":") ? `[${bare}]:${port}` : `${bare}:${port}`;
}
