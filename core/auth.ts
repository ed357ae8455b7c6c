/**
 * Proof of key possession, never a secret on the wire: the daemon hands out a fresh nonce, the
 * client signs a transcript that binds the nonce to the TLS certificate it actually received
 * (`tls-server-end-point` channel binding: a man in the middle presents another certificate, so
 * the daemon sees a signature over the wrong fingerprint) and to what it asks for, and the daemon
 * checks the signature with the keys its configuration lists for the user.
 *
 * Also here, for the daemon: single-use nonces with a short life ({@linkcode NonceBook}) and the
 * growing delay before a refused login is answered ({@linkcode LoginDelays}).
 *
 * @module
 */

import { verifySignature } from "./identity.ts";

/** What a proof is for: a transfer session or one admin call. */
export type AuthPurpose = "transfer" | "admin";

/** The fields a signature covers. */
export interface AuthTranscript {
  /** What the proof is for. */
  purpose: AuthPurpose;
  /** The daemon's nonce. */
  nonce: Uint8Array;
  /** `SHA256:…` of the certificate the client received (`""` without TLS). */
  fingerprint: string;
  /** The module (`""` for the default root, or for calls about no module). */
  module: string;
  /** The user name. */
  user: string;
  /** For admin calls: the method name (`listDir`, `remove`, …); `""` for transfers. */
  method: string;
}

/** Length of a daemon nonce. */
export const NONCE_BYTES = 32;

const encoder = new TextEncoder();

/**
 * The bytes a client signs: a fixed label, then each field as a 4-byte big-endian length and
 * its bytes, so that no two transcripts share an encoding.
 *
 * @example Usage
 * ```ts
 * import { notDeepStrictEqual } from "node:assert/strict";
 * import { authTranscript } from "./auth.ts";
 * const base = {
 *   purpose: "transfer" as const, nonce: new Uint8Array(32), fingerprint: "SHA256:x",
 *   module: "m", user: "alice", method: "",
 * };
 * notDeepStrictEqual(authTranscript(base), authTranscript({ ...base, module: "n" }));
 * ```
 *
 * @param transcript The fields.
 * @returns The bytes to sign.
 */
export function authTranscript(transcript: AuthTranscript): Uint8Array {
  const parts = [
    encoder.encode("blit-auth-v1"),
    encoder.encode(transcript.purpose),
    transcript.nonce,
    encoder.encode(transcript.fingerprint),
    encoder.encode(transcript.module),
    encoder.encode(transcript.user),
    encoder.encode(transcript.method),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of parts) {
    view.setUint32(at, part.length);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  return out;
}

/** A client's claim: who it is and its signature over the transcript. */
export interface AuthProof {
  /** The user name claimed (`""`: whichever user the key belongs to). */
  user: string;
  /** The public key it signed with (32 raw bytes). */
  publicKey: Uint8Array;
  /** The signature. */
  signature: Uint8Array;
}

/** Longest user name a proof may claim. */
export const MAX_USER_LENGTH = 128;

/**
 * The proof a client sent, as the daemon checks it: `null` when it sent no key and no
 * signature (anonymous); a malformed one (wrong sizes, an over-long name) becomes a proof that
 * cannot verify, so that it is refused like a wrong key — same words, same delay.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { proofFromWire } from "./auth.ts";
 * const empty = new Uint8Array(0);
 * strictEqual(proofFromWire({ user: "", publicKey: empty, signature: empty }), null);
 * strictEqual(proofFromWire({ user: "a", publicKey: empty, signature: new Uint8Array(64) })?.user, "?");
 * ```
 *
 * @param sent The claimed user, the public key and the signature as received.
 * @returns The proof, or `null` for an anonymous client.
 */
export function proofFromWire(sent: AuthProof): AuthProof | null {
  const { user, publicKey, signature } = sent;
  if (publicKey.length === 0 && signature.length === 0) return null;
  if (user.length > MAX_USER_LENGTH || publicKey.length !== 32 || signature.length !== 64) {
    return { user: "?", publicKey: new Uint8Array(32), signature: new Uint8Array(64) };
  }
  return sent;
}

/**
 * Checks a proof: the signature must verify over the transcript, and the key must be one the
 * configuration lists for the user — the claimed one, or, when the client named none, the user
 * the key belongs to. Unknown user, unknown key and bad signature are the same `null`, so that
 * nothing tells them apart.
 *
 * @example Usage
 * ```ts ignore
 * const user = await checkProof(proof, transcript, (claimed, key) => userOfKey(claimed, key));
 * if (user === null) refuse("permission denied");
 * ```
 *
 * @param proof The client's claim.
 * @param transcript What it must have signed (its `user` is the claimed name).
 * @param userOf The configured user a key belongs to, given the claimed name (`""`: any user),
 *   or `null`.
 * @returns The authenticated user's name, or `null`.
 */
export async function checkProof(
  proof: AuthProof,
  transcript: Omit<AuthTranscript, "user">,
  userOf: (claimed: string, key: Uint8Array) => string | null,
): Promise<string | null> {
  const data = authTranscript({ ...transcript, user: proof.user });
  // Verify even when the key is unknown, so that timing does not tell users apart.
  const valid = await verifySignature(proof.publicKey, data, proof.signature);
  const user = userOf(proof.user, proof.publicKey);
  return valid && user !== null ? user : null;
}

/**
 * Compares two byte arrays in time that depends only on their length.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { sameBytes } from "./auth.ts";
 * strictEqual(sameBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
 * strictEqual(sameBytes(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
 * ```
 *
 * @param a One array.
 * @param b The other.
 * @returns Whether they hold the same bytes.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/**
 * Single-use nonces with a short life, for the admin calls (a transfer's nonce lives in its own
 * stream). Bounded: the oldest are forgotten first.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { NonceBook } from "./auth.ts";
 * const book = new NonceBook();
 * const nonce = book.issue();
 * strictEqual(book.consume(nonce), true);
 * strictEqual(book.consume(nonce), false);
 * ```
 */
export class NonceBook {
  readonly #issued = new Map<string, number>();
  readonly #lifeMs: number;
  readonly #max: number;

  /**
   * Creates a book.
   * @param options How long a nonce lives and how many may be outstanding.
   */
  constructor(options: { lifeMs?: number; max?: number } = {}) {
    this.#lifeMs = options.lifeMs ?? 60_000;
    this.#max = options.max ?? 10_000;
  }

  /**
   * Issues a fresh nonce.
   * @returns 32 random bytes.
   */
  issue(): Uint8Array {
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    if (this.#issued.size >= this.#max) {
      const oldest = this.#issued.keys().next().value;
      if (oldest !== undefined) this.#issued.delete(oldest);
    }
    this.#issued.set(keyOf(nonce), performance.now() + this.#lifeMs);
    return nonce;
  }

  /**
   * Uses up a nonce.
   * @param nonce The nonce a client signed.
   * @returns Whether it was issued, unused and not expired.
   */
  consume(nonce: Uint8Array): boolean {
    const key = keyOf(nonce);
    const expires = this.#issued.get(key);
    this.#issued.delete(key);
    return expires !== undefined && expires >= performance.now();
  }
}

function keyOf(nonce: Uint8Array): string {
  let text = "";
  for (const byte of nonce) text += byte.toString(16).padStart(2, "0");
  return text;
}

/** Longest delay before a refused login is answered. */
export const MAX_LOGIN_DELAY_MS = 2_000;

/**
 * The delay a refused login waits before its answer, per source address: it doubles with each
 * refusal (100 ms, 200 ms, … up to {@linkcode MAX_LOGIN_DELAY_MS}), halves for every half
 * minute without one, and a success resets it. A guesser gets a few tries a second at most.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { LoginDelays } from "./auth.ts";
 * const delays = new LoginDelays();
 * strictEqual(delays.refused("10.0.0.1", 0), 100);
 * strictEqual(delays.refused("10.0.0.1", 0), 200);
 * delays.succeeded("10.0.0.1");
 * strictEqual(delays.refused("10.0.0.1", 0), 100);
 * ```
 */
export class LoginDelays {
  readonly #byAddress = new Map<string, { level: number; at: number }>();

  /**
   * Records a refusal.
   * @param address The source address.
   * @param now The time in milliseconds (default: now).
   * @returns How long to wait before answering, in milliseconds.
   */
  refused(address: string, now = performance.now()): number {
    const previous = this.#byAddress.get(address);
    let level = 0;
    if (previous) {
      const halvings = Math.floor((now - previous.at) / 30_000);
      level = Math.max(0, previous.level - halvings);
    }
    level = Math.min(level + 1, 6);
    if (this.#byAddress.size > 100_000) this.#byAddress.clear();
    this.#byAddress.set(address, { level, at: now });
    return Math.min(MAX_LOGIN_DELAY_MS, 100 * 2 ** (level - 1));
  }

  /**
   * Forgets an address's refusals.
   * @param address The source address.
   */
  succeeded(address: string): void {
    this.#byAddress.delete(address);
  }
}
