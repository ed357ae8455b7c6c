/**
 * Targets of the admin verbs: a local path, or `host:/module/path` (`host://path` for the
 * daemon's default root), and a helper that runs a body with a connected
 * {@linkcode AdminClient}.
 *
 * @module
 */

import { AdminClient, type HostAddress, parseHostAddress } from "../core/admin_client.ts";
import { UsageError } from "../core/errors.ts";
import { parseEndpoint } from "../core/remote_path.ts";

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
 * Parses a target with the transfer endpoint rules (`core/remote_path.ts`).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseTarget } from "./target.ts";
 * deepStrictEqual(parseTarget("nas:/photos/2024"), {
 *   kind: "remote",
 *   address: { host: "nas", port: 9031 },
 *   module: "photos",
 *   path: "2024",
 *   text: "nas:/photos/2024",
 * });
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
    throw new UsageError(error instanceof Error ? error.message : String(error));
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
 * @param text The target as typed.
 * @param verb The verb, for the error.
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

/**
 * Parses `HOST[:PORT]` for the verbs that take a daemon.
 * @param text The address as typed.
 * @throws {UsageError} When it is malformed.
 * @returns The address.
 */
export function parseHostArg(text: string): HostAddress {
  try {
    return parseHostAddress(text);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * Connects to a daemon, runs `body`, and closes the connection.
 * @param address The daemon.
 * @param body Uses the client.
 * @returns What `body` returned.
 */
export async function withClient<T>(
  address: HostAddress,
  body: (client: AdminClient) => Promise<T>,
): Promise<T> {
  const client = await AdminClient.connect(address);
  try {
    return await body(client);
  } finally {
    client.close();
  }
}
