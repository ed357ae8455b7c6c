/**
 * Who may do what on this daemon: checks a client's proof of key possession (core/auth.ts)
 * against the users of the configuration, applies the access rules of the module asked for
 * (core/access.ts), and answers a refusal with the same words whatever its cause, after the
 * growing per-address delay.
 *
 * @module
 */

import { type Access, accessOf, moduleRules, rootRules } from "../core/access.ts";
import {
  type AuthProof,
  type AuthPurpose,
  checkProof,
  LoginDelays,
  NonceBook,
  sameBytes,
} from "../core/auth.ts";
import type { DaemonConfig, ModuleConfig } from "../core/config.ts";
import { type ExportedModule, lookupModule, ModuleUnknownError } from "../core/endpoint.ts";
import { parsePublicKey } from "../core/identity.ts";
import { peerAddress } from "../core/transport/connection_gate.ts";

/** The one answer to every refused login or forbidden module. */
export const PERMISSION_DENIED = "permission denied";

/** A refused request: always {@linkcode PERMISSION_DENIED}, whatever the cause. */
export class AccessDeniedError extends Error {
  /** For the daemon's own log only: what was wrong. */
  readonly why: string;

  /**
   * Creates the error.
   * @param why What was wrong (never sent to the client).
   */
  constructor(why: string) {
    super(PERMISSION_DENIED);
    this.name = "AccessDeniedError";
    this.why = why;
  }
}

/** What a caller asks to be admitted for. */
export interface AdmissionRequest {
  /** The call's peer, as grpc-js reports it (`address:port`). */
  peer: string;
  /** The module (`""` for the default root). */
  module: string;
  /** What the operation needs. */
  needs: "read" | "write";
  /** The client's proof, or `null` for an anonymous caller. */
  proof: AuthProof | null;
  /** The nonce the proof must cover. */
  nonce: Uint8Array;
  /** What the proof is for. */
  purpose: AuthPurpose;
  /** For admin calls: the method name. */
  method: string;
}

/** An admitted caller. */
export interface Admission {
  /** The authenticated user, or `null` for anonymous. */
  user: string | null;
  /** The module, with `readOnly` set from this user's access. */
  exported: ExportedModule;
  /** The user's access to it. */
  access: Access;
}

/**
 * The daemon's access decisions.
 *
 * @example Usage
 * ```ts ignore
 * const authority = new Authority(config, fingerprint);
 * const { user, exported } = await authority.admit({ peer, module: "photos", needs: "read", ... });
 * ```
 */
export class Authority {
  readonly #config: DaemonConfig;
  readonly #keys = new Map<string, Uint8Array[]>();
  readonly #delays = new LoginDelays();
  /** Nonces handed out for admin calls. */
  readonly nonces: NonceBook = new NonceBook();
  /** `SHA256:…` of the certificate this daemon presents (`""` without TLS). */
  readonly fingerprint: string;

  /**
   * Creates the authority.
   * @param config The resolved configuration (its keys were validated when it was parsed).
   * @param fingerprint The fingerprint of the daemon's TLS certificate, `""` without TLS.
   */
  constructor(config: DaemonConfig, fingerprint: string) {
    this.#config = config;
    this.fingerprint = fingerprint;
    for (const user of config.users) {
      this.#keys.set(user.name, user.publicKeys.map((line) => parsePublicKey(line).raw));
    }
  }

  /**
   * Authenticates the caller and checks its access to the module. A refusal waits for the
   * address's delay, then throws.
   *
   * @param request What is asked, and the proof.
   * @throws {AccessDeniedError} When the proof fails, the module is unknown, or the user may
   *   not use it (write needs are left to the caller's read-only checks: a user with read
   *   access learns that the module is read-only for them).
   * @returns The admission.
   */
  admit(request: AdmissionRequest): Promise<Admission> {
    return this.#paced(request.peer, () => this.#decide(request), (admission) => admission.user);
  }

  /**
   * The modules a caller may see in a listing: those with `list = true` (their names are not
   * secret), and the hidden ones (`list = false`) only when it may use them.
   * @param user The authenticated user, or `null`.
   * @returns The modules, in configuration order.
   */
  visibleModules(user: string | null): { module: ModuleConfig; access: Access }[] {
    return this.#config.modules
      .map((module) => ({ module, access: accessOf(moduleRules(module), user) }))
      .filter(({ module, access }) => module.list || access !== "none");
  }

  /**
   * Checks a proof on its own (for listings, where no module is asked for).
   * @param request The proof, nonce and what it is for.
   * @returns The user, or `null` for anonymous; a bad proof throws after the delay.
   */
  authenticate(
    request: Omit<AdmissionRequest, "needs" | "module"> & { module?: string },
  ): Promise<string | null> {
    return this.#paced(request.peer, () => this.#identify(request), (user) => user);
  }

  /**
   * Runs a decision; a refusal waits for the address's growing delay before it is thrown, and
   * a signed-in success resets the delay.
   */
  async #paced<T>(
    peer: string,
    decide: () => Promise<T>,
    userOf: (decided: T) => string | null,
  ): Promise<T> {
    const address = peerAddress(peer);
    try {
      const decided = await decide();
      if (userOf(decided) !== null) this.#delays.succeeded(address);
      return decided;
    } catch (error) {
      if (!(error instanceof AccessDeniedError)) throw error;
      const delay = this.#delays.refused(address);
      await new Promise((resolve) => setTimeout(resolve, delay));
      throw error;
    }
  }

  /** The user a request proves, `null` for an anonymous one; a bad proof is refused. */
  async #identify(
    request: {
      proof: AuthProof | null;
      nonce: Uint8Array;
      purpose: AuthPurpose;
      method: string;
      module?: string;
    },
  ): Promise<string | null> {
    if (request.proof === null) return null;
    const user = await this.#verify(request.proof, request);
    if (user === null) {
      throw new AccessDeniedError(`bad proof for user ${JSON.stringify(request.proof.user)}`);
    }
    return user;
  }

  async #decide(request: AdmissionRequest): Promise<Admission> {
    const user = await this.#identify(request);
    let exported: ExportedModule;
    try {
      exported = lookupModule(this.#config, request.module);
    } catch (error) {
      if (error instanceof ModuleUnknownError) {
        throw new AccessDeniedError(`unknown module ${JSON.stringify(request.module)}`);
      }
      throw error;
    }
    const rules = request.module === ""
      ? rootRules(this.#config)
      : moduleRules(this.#config.modules.find((m) => m.name === request.module) as ModuleConfig);
    const access = accessOf(rules, user);
    if (access === "none") {
      throw new AccessDeniedError(
        `${
          user === null ? "anonymous" : `user ${JSON.stringify(user)}`
        } may not use ${exported.label}`,
      );
    }
    return { user, exported: { ...exported, readOnly: access !== "write" }, access };
  }

  #verify(
    proof: AuthProof,
    request: { nonce: Uint8Array; purpose: AuthPurpose; method: string; module?: string },
  ): Promise<string | null> {
    return checkProof(proof, {
      purpose: request.purpose,
      nonce: request.nonce,
      fingerprint: this.fingerprint,
      module: request.module ?? "",
      method: request.method,
    }, (claimed, key) => this.#userOf(claimed, key));
  }

  #userOf(claimed: string, key: Uint8Array): string | null {
    if (claimed !== "") {
      return (this.#keys.get(claimed) ?? []).some((k) => sameBytes(k, key)) ? claimed : null;
    }
    for (const [name, keys] of this.#keys) {
      if (keys.some((k) => sameBytes(k, key))) return name;
    }
    return null;
  }
}
