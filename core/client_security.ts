/**
 * The client's side of a secure connection to a daemon, like ssh: the daemon's certificate is
 * pinned in the known-hosts file on first contact (or verified against an administrator's CA
 * with `--tls-ca`), every later connection — control and data plane — must present the same
 * one, and the client proves its key by signing the daemon's nonce together with the
 * fingerprint of the certificate it actually received (channel binding: a man in the middle
 * presents another certificate, so the daemon sees a signature over the wrong fingerprint).
 *
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import { type AuthPurpose, authTranscript } from "./auth.ts";
import { formatHostAddress, type HostAddress } from "./endpoint.ts";
import { FatalError } from "./errors.ts";
import { type Identity, loadIdentity, resolveIdentityPath, signBytes } from "./identity.ts";
import { defaultKnownHostsPath, lookupKnownHost, recordKnownHost } from "./known_hosts.ts";
import type { DataConn } from "./transport/data_plane.ts";
import { CertificateMismatchError, connectDataPlane, type TlsVerify } from "./transport/tls_pin.ts";
import type { ByteConn } from "./transport/conn_socket.ts";
import { connectTcp } from "./transport/connect_tcp.ts";

/** How a client connects to daemons: its key, and how it trusts them. */
export interface ConnectionSecurity {
  /**
   * The private key (`--identity PATH`). `undefined`: `BLIT_IDENTITY`, else the default key
   * when it exists, else anonymous. `null`: anonymous.
   */
  identity?: string | null;
  /**
   * The user to log in as. `""`: whichever user the daemon lists the key for.
   * @default {""}
   */
  user?: string;
  /**
   * The known-hosts file.
   * @default {"$XDG_CONFIG_HOME/blit/known_hosts"}
   */
  knownHostsPath?: string;
  /**
   * Longest wait for the certificate of a daemon met for the first time (or verified by a CA);
   * the session's connection deadline (`--contimeout`).
   * @default {10000}
   */
  probeTimeoutMs?: number;
  /** `--tls-ca FILE`: verify the daemon's certificate chain and name instead of pinning. */
  caFile?: string;
  /**
   * `false` (`--no-tls`): plaintext, for a daemon with `tls = false`.
   * @default {true}
   */
  tls?: boolean;
  /**
   * `false`: a daemon not in the known-hosts file is trusted for this connection only and not
   * recorded (shell completion, which must neither write nor print).
   * @default {true}
   */
  recordNewHosts?: boolean;
}

/** What a proof covers, besides the user. */
export interface ProofRequest {
  /** What the proof is for. */
  purpose: AuthPurpose;
  /** The daemon's nonce. */
  nonce: Uint8Array;
  /** The module (`""` for the default root or none). */
  module: string;
  /** The admin method, `""` for transfers. */
  method: string;
}

/** A signed claim, as sent to the daemon. */
export interface SignedProof {
  /** The user claimed (`""`: the key's user). */
  user: string;
  /** The public key, 32 raw bytes. */
  publicKey: Uint8Array;
  /** The signature over the transcript. */
  signature: Uint8Array;
}

/** What a grpc-js client of the daemon needs for its channel. */
export interface GrpcChannelSecurity {
  /** The channel credentials. */
  credentials: grpc.ChannelCredentials;
  /** Extra channel options the credentials need. */
  options: grpc.ChannelOptions;
}

/** A daemon connection's security, settled before the first call. */
export interface SecureChannel {
  /** `HOST:PORT` as dialled. */
  readonly address: string;
  /** `SHA256:…` of the certificate every connection must present (`""` without TLS). */
  readonly fingerprint: string;
  /**
   * The gRPC credentials for the control channel and the channel options they need (loads
   * grpc-js, which a transfer does without).
   */
  grpcChannel(): Promise<GrpcChannelSecurity>;
  /**
   * Opens a connection to the daemon's control port (a transfer's framed stream) with the
   * channel's trust: TLS with the pinned certificate or the CA, or plain TCP.
   * @param timeoutMs Longest time for the connection and the handshake together.
   * @returns The connection.
   */
  connectControl(timeoutMs: number): Promise<ByteConn>;
  /** Opens a data-plane connection with the same trust (absent: plain TCP). */
  readonly connectData:
    | ((host: string, port: number, timeoutMs: number) => Promise<DataConn>)
    | undefined;
  /** Whether a key will be used. */
  readonly signed: boolean;
  /**
   * Signs a proof for this daemon, or returns `null` for an anonymous client.
   * @param request The nonce and what the proof is for.
   * @returns The proof.
   */
  prove(request: ProofRequest): Promise<SignedProof | null>;
  /**
   * Checks the fingerprint the daemon says it presents against the one received.
   * @param reported The daemon's `tls_fingerprint`.
   * @throws {FatalError} When they differ (something between re-encrypts the connection).
   */
  checkReported(reported: string): void;
  /**
   * Explains a failed connection: a changed certificate is named as such.
   * @param error The connection error.
   * @returns The error to throw.
   */
  explain(error: unknown): Promise<unknown>;
}

/** Reads an environment variable, or `undefined` without permission. */
function envOf(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * Loads the client's key as the options say: an explicit one must exist and be private; the
 * default one is used when it exists.
 *
 * Requires `--allow-read` for the key and `--allow-env` for `BLIT_IDENTITY`, `XDG_CONFIG_HOME`
 * and `HOME` (without it only an explicit path is used).
 *
 * @example Usage
 * ```ts ignore
 * import { clientIdentity } from "./client_security.ts";
 * const identity = await clientIdentity({ identity: "/home/me/.config/blit/id_ed25519" });
 * ```
 *
 * @param security The options.
 * @throws {IdentityError} When the key cannot be used (missing explicit key, bad mode).
 * @returns The key, or `null` for anonymous.
 */
export async function clientIdentity(security: ConnectionSecurity): Promise<Identity | null> {
  if (security.identity === null) return null;
  const env = {
    BLIT_IDENTITY: envOf("BLIT_IDENTITY"),
    XDG_CONFIG_HOME: envOf("XDG_CONFIG_HOME"),
    HOME: envOf("HOME"),
  };
  const { path, explicit } = resolveIdentityPath(security.identity, withoutUndefined(env));
  if (!explicit) {
    try {
      await Deno.lstat(path);
    } catch {
      return null;
    }
  }
  return await loadIdentity(path);
}

function withoutUndefined<T extends Record<string, string | undefined>>(
  record: T,
): { [K in keyof T]?: string } {
  const out: { [K in keyof T]?: string } = {};
  for (const [key, value] of Object.entries(record)) {
    if (value !== undefined) out[key as keyof T] = value;
  }
  return out;
}

/**
 * Settles how to talk to a daemon: plaintext, a certificate verified with a CA, or the pinned
 * certificate of the known-hosts file (recorded on first contact, with one notice line).
 *
 * Requires `--allow-net` for the daemon, `--allow-read`/`--allow-write` for the known-hosts
 * file and the key, and `--allow-env` for the default paths.
 *
 * @example Usage
 * ```ts ignore
 * import { openSecureChannel } from "./client_security.ts";
 * const channel = await openSecureChannel({ host: "nas", port: 9031 }, {}, console.error);
 * ```
 *
 * @param address The daemon.
 * @param security Key and trust options.
 * @param notify Prints a notice (a new host, an unencrypted connection).
 * @throws {FatalError} When the daemon cannot be reached or trusted.
 * @returns The channel's security.
 */
export async function openSecureChannel(
  address: HostAddress,
  security: ConnectionSecurity,
  notify: (line: string) => void,
): Promise<SecureChannel> {
  const identity = await clientIdentity(security);
  const text = formatHostAddress(address);
  const user = security.user ?? "";
  const prove = (fingerprint: string) => async (request: ProofRequest) => {
    if (identity === null) return null;
    const data = authTranscript({ ...request, fingerprint, user });
    return { user, publicKey: identity.publicKey, signature: await signBytes(identity, data) };
  };
  if (security.tls === false) {
    notify(`blit: warning: the connection to ${text} is not encrypted (--no-tls)`);
    return {
      address: text,
      fingerprint: "",
      grpcChannel: async () => {
        const grpc = await import("@grpc/grpc-js");
        return { credentials: grpc.credentials.createInsecure(), options: {} };
      },
      connectControl: (timeoutMs) =>
        connectTcp(address.host.replace(/^\[(.*)\]$/, "$1"), address.port, { timeoutMs }),
      connectData: undefined,
      signed: identity !== null,
      prove: prove(""),
      checkReported: (reported) => {
        if (reported !== "") {
          throw new FatalError(
            `Cannot talk to ${text} without TLS: the daemon uses TLS; drop --no-tls`,
          );
        }
      },
      explain: (error) => Promise.resolve(error),
    };
  }
  let pin: Awaited<ReturnType<typeof pinnedCertificate>>;
  try {
    pin = await pinnedCertificate(address, security, notify);
  } catch (error) {
    throw isUnreachable(error) ? new DaemonUnreachableError(text, error) : error;
  }
  // With a CA, every connection verifies the chain and the name; otherwise the pin.
  const verify: TlsVerify = security.caFile !== undefined
    ? { kind: "ca", caPem: pin.caPem as string }
    : { kind: "pin", certificate: pin.certificate, fingerprint: pin.fingerprint };
  return {
    address: text,
    fingerprint: pin.fingerprint,
    grpcChannel: async () => {
      const grpcTls = await import("./transport/grpc_tls.ts");
      return {
        credentials: grpcTls.grpcChannelCredentials(verify),
        options: grpcTls.grpcChannelOptions(verify, address.host),
      };
    },
    connectControl: (timeoutMs) => connectDataPlane(address.host, address.port, verify, timeoutMs),
    connectData: (host, port, timeoutMs) => connectDataPlane(host, port, verify, timeoutMs),
    signed: identity !== null,
    prove: prove(pin.fingerprint),
    checkReported: (reported) => {
      if (reported !== pin.fingerprint) {
        throw new FatalError(
          `Cannot trust ${text}: the daemon says its certificate is ${
            reported || "none (tls = false)"
          } but this connection presented ${pin.fingerprint}; something between you re-encrypts the connection`,
        );
      }
    },
    explain: async (error) => {
      try {
        const tls = await import("./transport/tls_client.ts");
        const seen = await tls.probeServerCertificate(address.host, address.port, 5_000);
        if (seen.fingerprint !== pin.fingerprint) {
          return new CertificateMismatchError(
            address.host,
            address.port,
            pin.fingerprint,
            seen.fingerprint,
          );
        }
      } catch { /* the original error says more */ }
      return error;
    },
  };
}

/**
 * A daemon that could not be reached, in the same words whichever connection failed: the
 * certificate probe of a first contact, or a later connection to a known host.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { DaemonUnreachableError } from "./client_security.ts";
 * const refused = new Error("Cannot reach 127.0.0.1:9031: connection refused");
 * strictEqual(
 *   new DaemonUnreachableError("127.0.0.1:9031", refused).message,
 *   "Cannot connect to blitd at 127.0.0.1:9031: connection refused; is the daemon running?",
 * );
 * ```
 */
export class DaemonUnreachableError extends FatalError {
  /**
   * Creates the error.
   * @param address The daemon, as `HOST:PORT`.
   * @param error Why the connection failed ("Cannot reach HOST:PORT: connection refused").
   */
  constructor(address: string, error: unknown) {
    const why = (error instanceof Error ? error.message : String(error))
      .replace(/^Cannot (?:reach|start TLS with) \S+: /, "");
    super(`Cannot connect to blitd at ${address}: ${why}; is the daemon running?`, {
      cause: error,
    });
    this.name = "DaemonUnreachableError";
  }
}

/** Whether a connection attempt failed to reach a daemon at all (not a trust or usage error). */
export function isUnreachable(error: unknown): boolean {
  return error instanceof Error && /^Cannot (?:reach|start TLS with) /.test(error.message);
}

/**
 * The certificate to pin: from the CA-verified first connection, or the known-hosts file. Only
 * a first contact or a CA loads `node:tls` (`tls_client.ts`).
 */
async function pinnedCertificate(
  address: HostAddress,
  security: ConnectionSecurity,
  notify: (line: string) => void,
): Promise<{ certificate: Uint8Array; fingerprint: string; caPem?: string }> {
  const { host, port } = address;
  const probeTimeoutMs = security.probeTimeoutMs ?? 10_000;
  const path = security.knownHostsPath ?? defaultKnownHostsPath();
  const known = security.caFile === undefined ? await lookupKnownHost(path, host, port) : null;
  if (known) return known;
  const tls = await import("./transport/tls_client.ts");
  if (security.caFile !== undefined) {
    let caPem: string;
    try {
      caPem = await Deno.readTextFile(security.caFile);
    } catch (error) {
      throw new FatalError(
        `Cannot read --tls-ca "${security.caFile}": ${
          error instanceof Error ? error.message : String(error)
        }; give the PEM file of the CA that signed the daemon's certificate`,
      );
    }
    // Verify the chain and the name once, then pin what was verified for this run.
    const conn = await tls.connectTls(host, port, { kind: "ca", caPem }, probeTimeoutMs);
    conn.close();
    const seen = await tls.probeServerCertificate(host, port, probeTimeoutMs);
    if (seen.fingerprint !== conn.fingerprint) {
      throw new CertificateMismatchError(host, port, conn.fingerprint, seen.fingerprint);
    }
    return { ...seen, caPem };
  }
  const seen = await tls.probeServerCertificate(host, port, probeTimeoutMs);
  if (security.recordNewHosts === false) return seen;
  await recordKnownHost(path, { host, port, ...seen });
  notify(
    `blit: ${formatHostAddress(address)} is a new host; its certificate is ${seen.fingerprint} ` +
      `(recorded in ${path})`,
  );
  return seen;
}
