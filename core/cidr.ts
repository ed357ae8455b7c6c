/**
 * Address rules for the daemon's `hosts_allow` / `hosts_deny`: IPv4 and IPv6 networks in CIDR
 * notation (`10.0.0.0/8`, `fd00::/8`, a bare address meaning that one host), matched against
 * peer addresses as `node:net` and Deno report them. An IPv4-mapped IPv6 peer
 * (`::ffff:10.1.2.3`, what a dual-stack listener reports for an IPv4 client) matches IPv4
 * rules; an IPv6 zone (`fe80::1%eth0`) is ignored.
 *
 * @module
 */

/** A parsed network. */
export interface Cidr {
  /** 4 for IPv4, 6 for IPv6. */
  family: 4 | 6;
  /** The network address (4 or 16 bytes), with the bits beyond the prefix cleared. */
  bytes: Uint8Array;
  /** The prefix length: 0 to 32 for IPv4, 0 to 128 for IPv6. */
  prefix: number;
}

const IPV4_PART_REGEXP = /^(?:0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP_REGEXP = /^[0-9A-Fa-f]{1,4}$/;
const PREFIX_REGEXP = /^(?:0|[1-9][0-9]{0,2})$/;

/**
 * Parses a network: `A.B.C.D/N`, `IPV6/N`, or a bare address (a `/32` or `/128`). Bits set
 * beyond the prefix are allowed and cleared (`10.1.2.3/8` is `10.0.0.0/8`).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert/strict";
 * import { parseCidr } from "./cidr.ts";
 * deepStrictEqual(parseCidr("10.1.2.3/8"), {
 *   family: 4,
 *   bytes: new Uint8Array([10, 0, 0, 0]),
 *   prefix: 8,
 * });
 * deepStrictEqual(parseCidr("::1").prefix, 128);
 * throws(() => parseCidr("10.0.0.0/33"), TypeError);
 * ```
 *
 * @param text The rule as written.
 * @throws {TypeError} If the address or the prefix is malformed or out of range.
 * @returns The network.
 */
export function parseCidr(text: string): Cidr {
  const fail = (why: string): TypeError =>
    new TypeError(
      `Cannot read address rule ${
        JSON.stringify(text)
      }: ${why}; write it like 10.0.0.0/8 or fd00::/8`,
    );
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  if (addressText.trim() === "") throw fail("the address is missing");
  if (addressText.includes("%")) throw fail("a zone (%…) is not allowed in a rule");
  const bytes = parseAddress(addressText);
  if (bytes === null) throw fail(`"${addressText}" is not an IPv4 or IPv6 address`);
  const bits = bytes.length * 8;
  let prefix = bits;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!PREFIX_REGEXP.test(prefixText) || Number(prefixText) > bits) {
      throw fail(`the prefix "/${prefixText}" is not a number from 0 to ${bits}`);
    }
    prefix = Number(prefixText);
  }
  return { family: bytes.length === 4 ? 4 : 6, bytes: mask(bytes, prefix), prefix };
}

/**
 * Formats a network as `ADDRESS/PREFIX` (IPv6 in full, lower-case, without `::` compression).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatCidr, parseCidr } from "./cidr.ts";
 * strictEqual(formatCidr(parseCidr("10.9.8.7/16")), "10.9.0.0/16");
 * strictEqual(formatCidr(parseCidr("fd00::/8")), "fd00:0:0:0:0:0:0:0/8");
 * ```
 *
 * @param cidr The network.
 * @returns The text.
 */
export function formatCidr(cidr: Cidr): string {
  if (cidr.family === 4) return `${[...cidr.bytes].join(".")}/${cidr.prefix}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push((((cidr.bytes[i] as number) << 8) | (cidr.bytes[i + 1] as number)).toString(16));
  }
  return `${groups.join(":")}/${cidr.prefix}`;
}

/**
 * Tells whether a peer address lies in a network. The address is what `node:net` or Deno
 * reports: IPv6 without brackets, maybe with a zone (ignored); an IPv4-mapped IPv6 address
 * matches IPv4 networks, and an IPv4 address matches IPv6 networks through its mapped form
 * (`::ffff:0:0/96`). An address that cannot be parsed is in no network.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { cidrContains, parseCidr } from "./cidr.ts";
 * const lan = parseCidr("10.0.0.0/8");
 * strictEqual(cidrContains(lan, "10.1.2.3"), true);
 * strictEqual(cidrContains(lan, "::ffff:10.1.2.3"), true);
 * strictEqual(cidrContains(lan, "11.0.0.1"), false);
 * strictEqual(cidrContains(parseCidr("fe80::/10"), "fe80::1%eth0"), true);
 * ```
 *
 * @param cidr The network.
 * @param address The peer address.
 * @returns Whether the address is in the network.
 */
export function cidrContains(cidr: Cidr, address: string): boolean {
  const bytes = parsePeerAddress(address);
  if (bytes === null) return false;
  let candidate = bytes;
  if (cidr.family === 6 && bytes.length === 4) candidate = mapped(bytes);
  if (candidate.length !== cidr.bytes.length) return false;
  const masked = mask(candidate, cidr.prefix);
  return masked.every((byte, i) => byte === cidr.bytes[i]);
}

/**
 * The daemon's address rules: `hosts_allow` (`null`: any address) and `hosts_deny`. A denied
 * address is refused even when an allow rule matches it; an address that cannot be parsed is
 * refused.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { AddressRules } from "./cidr.ts";
 * const rules = new AddressRules(["10.0.0.0/8", "::1"], ["10.0.9.0/24"]);
 * strictEqual(rules.allows("10.1.2.3"), true);
 * strictEqual(rules.allows("10.0.9.4"), false);
 * strictEqual(rules.allows("::ffff:10.0.9.4"), false);
 * strictEqual(rules.allows("192.168.1.1"), false);
 * strictEqual(rules.allows("::1"), true);
 * strictEqual(new AddressRules(null, []).allows("192.168.1.1"), true);
 * strictEqual(new AddressRules(null, []).allows("not an address"), false);
 * ```
 */
export class AddressRules {
  readonly #allow: Cidr[] | null;
  readonly #deny: Cidr[];

  /**
   * Parses the rules.
   * @param allow The networks that may connect, or `null` for any.
   * @param deny The networks that may not, whatever `allow` says.
   * @throws {TypeError} If a rule cannot be parsed (see {@linkcode parseCidr}).
   */
  constructor(allow: string[] | null, deny: string[]) {
    this.#allow = allow === null ? null : allow.map(parseCidr);
    this.#deny = deny.map(parseCidr);
  }

  /**
   * Tells whether a peer may connect.
   * @param address The peer address, as `node:net` or Deno reports it.
   * @returns `false` if the address cannot be parsed, a deny rule matches, or allow rules exist
   *   and none matches.
   */
  allows(address: string): boolean {
    if (parsePeerAddress(address) === null) return false;
    if (this.#deny.some((cidr) => cidrContains(cidr, address))) return false;
    return this.#allow === null || this.#allow.some((cidr) => cidrContains(cidr, address));
  }
}

/** Parses a peer address: drops an IPv6 zone, turns an IPv4-mapped IPv6 address into IPv4. */
function parsePeerAddress(address: string): Uint8Array | null {
  let text = address;
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const percent = text.indexOf("%");
  if (percent >= 0 && text.includes(":")) text = text.slice(0, percent);
  const bytes = parseAddress(text);
  if (bytes === null || bytes.length === 4) return bytes;
  const isMapped = bytes.subarray(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff;
  return isMapped ? bytes.slice(12) : bytes;
}

function parseAddress(text: string): Uint8Array | null {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] as string;
    if (!IPV4_PART_REGEXP.test(part) || Number(part) > 255) return null;
    bytes[i] = Number(part);
  }
  return bytes;
}

function parseIpv6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === "") return [];
    const words = part.split(":");
    const groups: number[] = [];
    for (let i = 0; i < words.length; i++) {
      const word = words[i] as string;
      if (i === words.length - 1 && word.includes(".")) {
        const v4 = parseIpv4(word);
        if (v4 === null) return null;
        groups.push(((v4[0] as number) << 8) | (v4[1] as number));
        groups.push(((v4[2] as number) << 8) | (v4[3] as number));
      } else if (IPV6_GROUP_REGEXP.test(word)) {
        groups.push(parseInt(word, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const head = groupsOf(halves[0] as string);
  const tail = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

function mapped(v4: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(v4, 12);
  return bytes;
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = (out[i] as number) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}
