/**
 * The daemon's TLS identity: a self-signed server certificate (ECDSA P-256) made on first start
 * and kept in the state directory, and its ssh-style fingerprint (`SHA256:` + unpadded base64 of
 * the SHA-256 of the DER certificate), which clients pin in their known-hosts file.
 *
 * The certificate is a leaf (`basicConstraints` CA:FALSE, critical) with a subjectAltName: Deno's
 * TLS server (rustls) refuses a self-signed certificate marked as a CA as its own certificate
 * (`CaUsedAsEndEntity`).
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { isIP } from "node:net";
import { describeError, quotePath } from "./errors.ts";
import { certificateFingerprint, derToPem, pemToDer, PINNED_NAME } from "./pem.ts";

export { certificateFingerprint, derToPem, pemToDer, PINNED_NAME };

x509.cryptoProvider.set(crypto);

/** Key and signature algorithm of generated certificates. */
const ALGORITHM: EcKeyGenParams & EcdsaParams = {
  name: "ECDSA",
  namedCurve: "P-256",
  hash: "SHA-256",
};
const DAY_MS = 86_400_000;

/** The names of a generated certificate when none are given. */
const DEFAULT_NAMES = ["localhost", "127.0.0.1", "::1", PINNED_NAME];

/** Options for {@linkcode generateServerCertificate}. */
export interface GenerateServerCertificateOptions {
  /**
   * Names the certificate is valid for: IP literals become `ip` subjectAltNames, anything else
   * `dns` ones.
   * @default {["localhost", "127.0.0.1", "::1", PINNED_NAME]}
   */
  names?: string[];
  /**
   * Validity in days, counted from one day ago (tolerates clocks a little behind).
   * @default {3650}
   */
  days?: number;
}

/** A certificate and its private key, both PEM. */
export interface CertificatePem {
  /** The certificate (`-----BEGIN CERTIFICATE-----`). */
  certPem: string;
  /** The PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`). */
  keyPem: string;
}

/**
 * Generates a self-signed server certificate: ECDSA P-256 with SHA-256, CN=blitd, a leaf
 * (CA:FALSE) for TLS server authentication, a random 16-byte serial.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { generateServerCertificate } from "./tls_cert.ts";
 * const { certPem, keyPem } = await generateServerCertificate({ names: ["blit.example"] });
 * ok(certPem.startsWith("-----BEGIN CERTIFICATE-----"));
 * ok(keyPem.startsWith("-----BEGIN PRIVATE KEY-----"));
 * ```
 *
 * @param options Names and validity.
 * @throws {RangeError} If `days` is not a positive number or `names` is empty.
 * @returns The certificate and its private key, PEM.
 */
export async function generateServerCertificate(
  options?: GenerateServerCertificateOptions,
): Promise<CertificatePem> {
  const { names = DEFAULT_NAMES, days = 3650 } = options ?? {};
  if (!(days > 0) || !Number.isFinite(days)) {
    throw new RangeError(
      `Cannot generate a certificate valid for ${days} days: use a positive number`,
    );
  }
  if (names.length === 0) {
    throw new RangeError("Cannot generate a certificate without names: give at least one");
  }
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  const notBefore = Date.now() - DAY_MS;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Array.from(serial, (b) => b.toString(16).padStart(2, "0")).join(""),
    name: "CN=blitd",
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + days * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map(sanEntry)),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certPem: certificate.toString("pem") + "\n",
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
  };
}

/** A subjectAltName for `name`: an IP literal (IPv6 possibly in brackets) or a DNS name. */
function sanEntry(name: string): x509.JsonGeneralName {
  const bare = name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
  return isIP(bare) === 0 ? { type: "dns", value: name } : { type: "ip", value: bare };
}

/** Options for {@linkcode loadOrCreateServerCertificate}. */
export interface LoadServerCertificateOptions {
  /**
   * A certificate file of the operator's (`tls_cert`); given together with `keyPath`, nothing is
   * generated.
   * @default {null}
   */
  certPath?: string | null;
  /**
   * The private key of `certPath` (`tls_key`).
   * @default {null}
   */
  keyPath?: string | null;
  /**
   * Names for a generated certificate (see {@linkcode GenerateServerCertificateOptions.names}).
   * @default {["localhost", "127.0.0.1", "::1", PINNED_NAME]}
   */
  names?: string[];
}

/** The daemon's TLS identity, as loaded. */
export interface ServerIdentity extends CertificatePem {
  /** {@linkcode certificateFingerprint} of the (first) certificate. */
  fingerprint: string;
  /** True when the certificate was generated by this call. */
  generated: boolean;
}

/**
 * Loads the daemon's certificate and key: the operator's files when `certPath` and `keyPath` are
 * given, otherwise `STATE/tls/cert.pem` and `STATE/tls/key.pem`, generated on first use (the
 * directory 0700, the key 0600, the certificate 0644, each written to a temporary sibling and
 * renamed). A key readable by group or others is refused.
 *
 * Requires `--allow-read` (and `--allow-write` to generate).
 *
 * @example Usage
 * ```ts ignore
 * import { loadOrCreateServerCertificate } from "./tls_cert.ts";
 * const identity = await loadOrCreateServerCertificate("/var/lib/blitd");
 * console.log(`TLS certificate ${identity.fingerprint}`);
 * ```
 *
 * @param stateDir The daemon's state directory.
 * @param options The operator's files, or names for a generated certificate.
 * @throws {Error} If a file cannot be read or written, or the key is readable by others.
 * @throws {TypeError} If a file is not a PEM certificate or key, or they do not match.
 * @returns The PEM texts, the fingerprint, and whether they were generated.
 */
export async function loadOrCreateServerCertificate(
  stateDir: string,
  options?: LoadServerCertificateOptions,
): Promise<ServerIdentity> {
  const { certPath = null, keyPath = null, names } = options ?? {};
  if ((certPath === null) !== (keyPath === null)) {
    const missing = certPath === null ? "tls_cert" : "tls_key";
    throw new TypeError(`Cannot load the TLS certificate: ${missing} is not set; set both or none`);
  }
  if (certPath !== null && keyPath !== null) {
    return await loadPair(
      certPath,
      keyPath,
      { cert: "check tls_cert", key: "check tls_key" },
      false,
    );
  }
  const dir = `${stateDir}/tls`;
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const hasCert = await exists(cert);
  const hasKey = await exists(key);
  const hint = `delete ${
    quotePath(dir)
  } to make a new identity (clients must then forget the old one)`;
  if (hasCert && hasKey) return await loadPair(cert, key, { cert: hint, key: hint }, false);
  if (hasCert || hasKey) {
    const [present, absent] = hasCert ? [cert, key] : [key, cert];
    throw new Error(
      `Cannot load the TLS identity: ${quotePath(present)} exists but ${
        quotePath(absent)
      } does not; ${hint}`,
    );
  }
  const pair = await generateServerCertificate(names === undefined ? {} : { names });
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await writeViaSibling(key, pair.keyPem, 0o600);
    await writeViaSibling(cert, pair.certPem, 0o644);
  } catch (error) {
    throw new Error(
      `Cannot write the TLS identity to ${quotePath(dir)}: ${
        reason(error)
      }; check the state directory`,
      { cause: error },
    );
  }
  // Read back what is on disk: if another process generated at the same moment, both serve the
  // files that won (or stop on a key that does not match the certificate).
  return await loadPair(cert, key, { cert: hint, key: hint }, true);
}

async function loadPair(
  certPath: string,
  keyPath: string,
  hints: { cert: string; key: string },
  isGenerated: boolean,
): Promise<ServerIdentity> {
  const certPem = await readText(certPath, "certificate", hints.cert);
  const keyPem = await readText(keyPath, "key", hints.key);
  const info = await Deno.stat(keyPath);
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
    throw new Error(
      `Cannot use TLS key ${
        quotePath(keyPath)
      }: it is readable by group or others (mode ${mode}); run chmod 600 ${quotePath(keyPath)}`,
    );
  }
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(pemToDer(certPem));
  } catch (error) {
    throw new TypeError(
      `Cannot parse TLS certificate ${quotePath(certPath)}: ${reason(error)}; ${hints.cert}`,
    );
  }
  let publicKey: Uint8Array;
  try {
    const privateKey = createPrivateKey(keyPem);
    publicKey = new Uint8Array(createPublicKey(privateKey).export({ type: "spki", format: "der" }));
  } catch (error) {
    throw new TypeError(
      `Cannot parse TLS key ${quotePath(keyPath)}: ${reason(error)}; ${hints.key}`,
    );
  }
  if (!sameBytes(publicKey, new Uint8Array(certificate.publicKey.rawData))) {
    throw new TypeError(
      `Cannot use TLS key ${quotePath(keyPath)}: it does not belong to certificate ${
        quotePath(certPath)
      }; ${hints.key}`,
    );
  }
  return {
    certPem,
    keyPem,
    fingerprint: await certificateFingerprint(new Uint8Array(certificate.rawData)),
    generated: isGenerated,
  };
}

async function readText(path: string, what: string, hint: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`Cannot read TLS ${what} ${quotePath(path)}: ${reason(error)}; ${hint}`, {
      cause: error,
    });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw new Error(
      `Cannot check ${quotePath(path)}: ${reason(error)}; check the state directory`,
      {
        cause: error,
      },
    );
  }
}

async function writeViaSibling(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text, { createNew: true, mode });
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** A short reason for a file error, without Deno's "(os error N)" noise. */
function reason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "it does not exist";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return describeError(error);
}
