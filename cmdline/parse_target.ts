/**
 * Targets of the admin verbs: a local path, or `host:/module/path` (`host://path` for the
 * daemon's default root), parsed with the transfer endpoint rules of `core/endpoint.ts`.
 *
 * @module
 */

import type { HostAddress } from "../core/endpoint.ts";
import { describeError, UsageError } from "../core/errors.ts";
import { parseEndpoint } from "../core/endpoint.ts";

/** A path inside a daemon's module (or its default root). */
export interface RemoteTarget {
  /** Discriminant. */
  kind: "remote";
  /** The daemon. */
  address: HostAddress;
  /** Module name; `""` for the default root. */
  module: string;
  /** Path inside the module, `""` for its root. */
  path: string;
  /** The target as typed. */
  text: string;
}

/** A path on this machine. */
export interface LocalTarget {
  /** Discriminant. */
  kind: "local";
  /** The path as typed. */
  path: string;
  /** The target as typed. */
  text: string;
}

/** A parsed target. */
export type AdminTarget = RemoteTarget | LocalTarget;

/**
 * Parses a target with the transfer endpoint rules (`core/endpoint.ts`).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseTarget } from "./parse_target.ts";
 * deepStrictEqual(parseTarget("nas:/photos/2024"), {
 *   kind: "remote",
 *   address: { host: "nas", port: 9031 },
 *   module: "photos",
 *   path: "2024",
 *   text: "nas:/photos/2024",
 * });
 * deepStrictEqual(parseTarget("./photos"), { kind: "local", path: "./photos", text: "./photos" });
 * ```
 *
 * @param text The target as typed.
 * @throws {UsageError} For a malformed remote target.
 * @returns The target.
 */
export function parseTarget(text: string): AdminTarget {
  let endpoint;
  try {
    endpoint = parseEndpoint(text);
  } catch (error) {
    throw new UsageError(describeError(error));
  }
  if (endpoint.kind === "local") return { kind: "local", path: endpoint.path, text };
  return {
    kind: "remote",
    address: { host: endpoint.host, port: endpoint.port },
    module: endpoint.module ?? "",
    path: endpoint.path,
    text,
  };
}

/**
 * Parses a target that must be remote.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { parseRemoteTarget } from "./parse_target.ts";
 * strictEqual(parseRemoteTarget("nas:/pub/old", "remove").path, "old");
 * throws(() => parseRemoteTarget("/tmp/old", "remove"), {
 *   message: `Cannot remove "/tmp/old": it is a local path, give HOST:/module/path (or HOST://path)`,
 * });
 * ```
 *
 * @param text The target as typed.
 * @param verb The verb, for the error (`"remove"`, `"measure"`).
 * @throws {UsageError} For a local path or a malformed target.
 * @returns The remote target.
 */
export function parseRemoteTarget(text: string, verb: string): RemoteTarget {
  const target = parseTarget(text);
  if (target.kind === "local") {
    throw new UsageError(
      `Cannot ${verb} "${text}": it is a local path, give HOST:/module/path (or HOST://path)`,
    );
  }
  return target;
}
