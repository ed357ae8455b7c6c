/**
 * The flags every command that talks to a daemon takes: the client's key, the user, and how
 * the daemon is trusted (known hosts, an administrator's CA, or no TLS at all).
 *
 * @module
 */

import type { ConnectionSecurity } from "../core/client_security.ts";
import { UsageError } from "../core/errors.ts";

/** The `parseArgs` options of the security flags; spread them into a verb's options. */
export const SECURITY_OPTIONS = {
  identity: { type: "string" },
  user: { type: "string" },
  "known-hosts": { type: "string" },
  "tls-ca": { type: "string" },
  "no-tls": { type: "boolean" },
} as const;

/** Help lines of the security flags. */
export const SECURITY_HELP =
  `  --identity PATH      private key to sign in with (default: BLIT_IDENTITY, else
                       ~/.config/blit/id_ed25519 when it exists, else anonymous)
  --user NAME          user to sign in as (default: the user the daemon lists the key for)
  --known-hosts PATH   pinned daemon certificates (default: ~/.config/blit/known_hosts)
  --tls-ca FILE        verify the daemon's certificate with this CA instead of pinning it
  --no-tls             talk to a daemon that runs with tls = false (unencrypted)`;

/** The values of the security flags, as `parseArgs` returns them. */
export interface SecurityFlagValues {
  /** `--identity`. */
  identity?: string | undefined;
  /** `--user`. */
  user?: string | undefined;
  /** `--known-hosts`. */
  "known-hosts"?: string | undefined;
  /** `--tls-ca`. */
  "tls-ca"?: string | undefined;
  /** `--no-tls`. */
  "no-tls"?: boolean | undefined;
}

/**
 * Turns the security flags into connection options.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert/strict";
 * import { securityOf } from "./security_flags.ts";
 * deepStrictEqual(securityOf({ identity: "/k", "no-tls": true }), { identity: "/k", tls: false });
 * throws(() => securityOf({ "tls-ca": "/ca.pem", "no-tls": true }), /--tls-ca/);
 * ```
 *
 * @param values The parsed flags.
 * @throws {UsageError} For contradicting or empty flags.
 * @returns The options.
 */
export function securityOf(values: SecurityFlagValues): ConnectionSecurity {
  const security: ConnectionSecurity = {};
  for (const flag of ["identity", "user", "known-hosts", "tls-ca"] as const) {
    if (values[flag] === "") throw new UsageError(`Cannot use --${flag} "": give a value`);
  }
  if (values["no-tls"] && values["tls-ca"] !== undefined) {
    throw new UsageError("Cannot use --tls-ca with --no-tls: choose one");
  }
  if (values.identity !== undefined) security.identity = values.identity;
  if (values.user !== undefined) security.user = values.user;
  if (values["known-hosts"] !== undefined) security.knownHostsPath = values["known-hosts"];
  if (values["tls-ca"] !== undefined) security.caFile = values["tls-ca"];
  if (values["no-tls"]) security.tls = false;
  return security;
}
