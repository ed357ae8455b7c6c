/**
 * Certificate encodings and fingerprints without an X.509 library: PEM ⇄ DER, the ssh-style
 * `SHA256:` fingerprint clients pin, and the name every generated certificate carries. Clients
 * import this, not `tls_cert.ts`, so that they never load the certificate builder (about 200 ms
 * of start-up).
 *
 * @module
 */

const PEM_CERT_REGEXP = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/;

/**
 * A name every certificate blitd generates also carries. A `.invalid` name can never be in a
 * publicly issued certificate (RFC 6761), so a client that gives the pinned certificate as its
 * only extra CA and asks for this name accepts exactly that certificate, even with Deno's TLS,
 * which also trusts the default roots (see `connectDataPlane` in `transport/tls_client.ts`).
 */
export const PINNED_NAME = "pinned.blit.invalid";

/**
 * The ssh-style fingerprint of a certificate: `SHA256:` and the unpadded base64 of the SHA-256
 * digest of its DER bytes.
 *
 * @example Usage
 * ```ts
 * import { match } from "node:assert/strict";
 * import { certificateFingerprint } from "./pem.ts";
 * match(await certificateFingerprint(new Uint8Array([1, 2, 3])), /^SHA256:[A-Za-z0-9+/]{43}$/);
 * ```
 *
 * @param der The certificate, DER.
 * @returns `SHA256:…` (50 characters).
 */
export async function certificateFingerprint(der: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", der as Uint8Array<ArrayBuffer>),
  );
  return "SHA256:" + btoa(String.fromCharCode(...digest)).replace(/=+$/, "");
}

/**
 * Decodes the first `CERTIFICATE` block of a PEM text.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { derToPem, pemToDer } from "./pem.ts";
 * deepStrictEqual(pemToDer(derToPem(new Uint8Array([48, 0]))), new Uint8Array([48, 0]));
 * ```
 *
 * @param pem PEM text holding at least one certificate.
 * @throws {TypeError} If there is no well-formed `CERTIFICATE` block.
 * @returns The DER bytes of the first certificate.
 */
export function pemToDer(pem: string): Uint8Array<ArrayBuffer> {
  const body = PEM_CERT_REGEXP.exec(pem)?.[1];
  if (body === undefined) {
    throw new TypeError("Cannot decode PEM: it holds no CERTIFICATE block");
  }
  try {
    return Uint8Array.from(atob(body.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } catch {
    throw new TypeError("Cannot decode PEM: the CERTIFICATE block is not valid base64");
  }
}

/**
 * Encodes a DER certificate as PEM (64-column base64 lines, final newline).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { derToPem } from "./pem.ts";
 * strictEqual(
 *   derToPem(new Uint8Array([48, 0])),
 *   "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
 * );
 * ```
 *
 * @param der The certificate, DER.
 * @returns The PEM text.
 */
export function derToPem(der: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < der.length; i += 0x8000) {
    binary += String.fromCharCode(...der.subarray(i, i + 0x8000));
  }
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}
