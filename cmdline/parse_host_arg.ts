/**
 * Parses the `HOST[:PORT]` argument of the verbs that take a daemon.
 *
 * @module
 */

import { type HostAddress, parseHostAddress } from "../core/endpoint.ts";
import { describeError, UsageError } from "../core/errors.ts";

/**
 * Parses `HOST[:PORT]` (or `[IPV6]:PORT`) for the verbs that take a daemon; the port defaults to
 * 9031.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert/strict";
 * import { parseHostArg } from "./parse_host_arg.ts";
 * deepStrictEqual(parseHostArg("nas:9000"), { host: "nas", port: 9000 });
 * throws(() => parseHostArg("nas:0"), { name: "UsageError" });
 * ```
 *
 * @param text The address as typed.
 * @throws {UsageError} When it is malformed.
 * @returns The address.
 */
export function parseHostArg(text: string): HostAddress {
  try {
    return parseHostAddress(text);
  } catch (error) {
    throw new UsageError(describeError(error));
  }
}
