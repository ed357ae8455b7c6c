/**
 * The daemon's door for control-plane connections, checked on accept before any TLS or gRPC byte
 * is read: the address rules (`hosts_allow` / `hosts_deny`), the connection caps (whole daemon and
 * per source address), and the hello deadline — a connection that has not completed a hello
 * (a signed one, or an anonymous one where a module allows it) within the deadline is closed, so
 * a slow or silent client cannot hold a slot.
 *
 * @module
 */

/** What the gate needs of an accepted socket. */
export interface GatedSocket {
  /** The peer's address (`node:net` style: IPv6 without brackets). */
  readonly remoteAddress?: string | undefined;
  /** The peer's port. */
  readonly remotePort?: number | undefined;
  /** Closes the connection at once. */
  destroy(): void;
  /** Registers the close listener. */
  once(event: "close", listener: () => void): unknown;
}

/** Options of {@linkcode ConnectionGate}. */
export interface ConnectionGateOptions {
  /** Whether an address may connect at all (`hosts_allow` / `hosts_deny`). */
  allowed: (address: string) => boolean;
  /** Most connections at once, whole daemon. */
  maxConnections: number;
  /** Most connections at once from one address. */
  maxPerHost: number;
  /**
   * How long a connection may go without completing a hello.
   * @default {10000}
   */
  helloTimeoutMs?: number;
  /** Told about each refused or timed-out connection (for the log). */
  onRefused?: (address: string, reason: string) => void;
}

interface Tracked {
  socket: GatedSocket;
  address: string;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Admits or refuses accepted connections and closes those that never say hello.
 *
 * @example Usage
 * ```ts ignore
 * const gate = new ConnectionGate({ allowed: () => true, maxConnections: 256, maxPerHost: 64 });
 * net.createServer((socket) => { if (gate.admit(socket)) handOn(socket); });
 * // later, when a call on that connection authenticated:
 * gate.helloDone(call.getPeer());
 * ```
 */
export class ConnectionGate {
  readonly #o: ConnectionGateOptions;
  readonly #open = new Map<string, Tracked>();
  readonly #perHost = new Map<string, number>();

  /**
   * Creates the gate.
   * @param options Rules, caps and the hello deadline.
   */
  constructor(options: ConnectionGateOptions) {
    this.#o = options;
  }

  /** Connections open now. */
  get open(): number {
    return this.#open.size;
  }

  /**
   * Decides on an accepted connection: refused ones are closed at once.
   * @param socket The accepted socket.
   * @returns Whether it may go on (to TLS and gRPC).
   */
  admit(socket: GatedSocket): boolean {
    const address = normalizeAddress(socket.remoteAddress ?? "");
    const refuse = (reason: string): boolean => {
      socket.destroy();
      this.#o.onRefused?.(address, reason);
      return false;
    };
    if (!this.#o.allowed(address)) return refuse("address not allowed");
    if (this.#open.size >= this.#o.maxConnections) return refuse("max_connections reached");
    const fromHost = this.#perHost.get(address) ?? 0;
    if (fromHost >= this.#o.maxPerHost) return refuse("max_connections_per_host reached");
    const key = peerKey(socket.remoteAddress ?? "", socket.remotePort ?? 0);
    const tracked: Tracked = { socket, address, timer: undefined };
    tracked.timer = setTimeout(() => {
      tracked.timer = undefined;
      socket.destroy();
      // Freed now, not on 'close': a socket wrapped for TLS may never report it.
      this.#forget(key);
      this.#o.onRefused?.(address, "no hello within the deadline");
    }, this.#o.helloTimeoutMs ?? 10_000);
    this.#open.set(key, tracked);
    this.#perHost.set(address, fromHost + 1);
    socket.once("close", () => this.#forget(key));
    return true;
  }

  /**
   * Marks a connection as having completed a hello: it is no longer on the deadline.
   * @param peer The call's peer, as grpc-js reports it (`address:port`).
   */
  helloDone(peer: string): void {
    const tracked = this.#open.get(peer);
    if (tracked?.timer !== undefined) {
      clearTimeout(tracked.timer);
      tracked.timer = undefined;
    }
  }

  #forget(key: string): void {
    const tracked = this.#open.get(key);
    if (!tracked) return;
    if (tracked.timer !== undefined) clearTimeout(tracked.timer);
    this.#open.delete(key);
    const left = (this.#perHost.get(tracked.address) ?? 1) - 1;
    if (left <= 0) this.#perHost.delete(tracked.address);
    else this.#perHost.set(tracked.address, left);
  }
}

/**
 * The key grpc-js gives a call's peer (`address:port`, IPv6 without brackets).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { peerKey } from "./connection_gate.ts";
 * strictEqual(peerKey("::1", 5000), "::1:5000");
 * ```
 *
 * @param address The remote address.
 * @param port The remote port.
 * @returns The key.
 */
export function peerKey(address: string, port: number): string {
  return `${address}:${port}`;
}

/**
 * An address as the rules see it: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as IPv4.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { normalizeAddress } from "./connection_gate.ts";
 * strictEqual(normalizeAddress("::ffff:10.0.0.1"), "10.0.0.1");
 * strictEqual(normalizeAddress("::1"), "::1");
 * ```
 *
 * @param address A peer address.
 * @returns The address to match rules against.
 */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] as string : address;
}

/**
 * The address part of a grpc-js peer string (`10.0.0.1:5000`, `::1:5000`).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { peerAddress } from "./connection_gate.ts";
 * strictEqual(peerAddress("::1:5000"), "::1");
 * strictEqual(peerAddress("10.0.0.1:5000"), "10.0.0.1");
 * ```
 *
 * @param peer The peer string.
 * @returns The address.
 */
export function peerAddress(peer: string): string {
  const colon = peer.lastIndexOf(":");
  return normalizeAddress(colon < 0 ? peer : peer.slice(0, colon));
}
