/**
 * mDNS discovery of blit daemons: the `_blit._tcp.local` service type, the TXT format, a typed
 * wrapper over `npm:multicast-dns`, and {@linkcode scanDaemons}, which asks the local network
 * which daemons are there.
 *
 * Under Deno both sides need `--allow-net=0.0.0.0:5353,224.0.0.251:5353` and
 * `--allow-sys=networkInterfaces`; they are checked before a socket is opened, so a missing
 * permission is one clear error instead of an uncaught exception inside `node:dgram`.
 *
 * @module
 */

import multicastDns from "multicast-dns";
import { describeError, FatalError } from "./errors.ts";

/** DNS-SD service type blit daemons advertise. */
export const MDNS_SERVICE_TYPE = "_blit._tcp.local";

/** Version of the TXT format and of the protocol a daemon speaks (`v=` in TXT). */
export const MDNS_PROTOCOL_VERSION = 1;

/** The IPv4 mDNS group address. */
export const MDNS_GROUP = "224.0.0.251";

/** The mDNS UDP port. */
export const MDNS_PORT = 5353;

/** One DNS question, as `npm:multicast-dns` encodes and decodes it. */
export interface MdnsQuestion {
  /** Queried name, without the trailing dot. */
  name: string;
  /** Record type (`PTR`, `SRV`, `TXT`, `A`, `AAAA`, `ANY`, ...). */
  type: string;
  /** Record class, normally `IN`. */
  class?: string;
}

/** One DNS resource record, as `npm:multicast-dns` encodes and decodes it. */
export interface MdnsRecord {
  /** Owner name, without the trailing dot. */
  name: string;
  /** Record type. */
  type: string;
  /** Seconds the record stays valid; `0` is a goodbye. */
  ttl?: number;
  /** Record class, normally `IN`. */
  class?: string;
  /** mDNS cache-flush bit: the record replaces any cached one of the same name and type. */
  flush?: boolean;
  /**
   * Payload: a name for PTR, `{ target, port }` for SRV, strings or bytes for TXT, an address
   * for A and AAAA.
   */
  data?: unknown;
}

/** A DNS message, as `npm:multicast-dns` encodes and decodes it. */
export interface MdnsPacket {
  /** `query` or `response`. */
  type?: string;
  /** DNS header flags. */
  flags?: number;
  /** The questions. */
  questions?: MdnsQuestion[];
  /** The answers. */
  answers?: MdnsRecord[];
  /** The authority records. */
  authorities?: MdnsRecord[];
  /** The additional records. */
  additionals?: MdnsRecord[];
}

/** The fields of a daemon's TXT record. */
export interface MdnsTxt {
  /** The protocol version (`v=`), `""` when absent. */
  version: string;
  /** Exact number of exported modules (`modules=`). */
  moduleCount: number;
  /** Module names (`names=`); fewer than `moduleCount` when the list was truncated to fit. */
  modules: string[];
}

/** A daemon that answered a scan. */
export interface DiscoveredDaemon {
  /** Instance name, e.g. `blit@nas`. */
  name: string;
  /** Host name from the SRV record, e.g. `nas.local`. */
  host: string;
  /** gRPC control port. */
  port: number;
  /** The host's addresses (IPv4 first), or the address the answer came from. */
  addresses: string[];
  /** Module names; may be truncated, see `moduleCount`. */
  modules: string[];
  /** Exact number of exported modules. */
  moduleCount: number;
  /** Protocol version from TXT (`"1"`), `""` when absent. */
  version: string;
}

/** Options for {@linkcode scanDaemons}. */
export interface ScanOptions {
  /**
   * How long to collect answers, in milliseconds.
   * @default {2000}
   */
  waitMs?: number;
  /** Ends the scan early; the daemons seen so far are returned. */
  signal?: AbortSignal;
}

/** An open mDNS socket: bound to UDP 5353 and joined to {@linkcode MDNS_GROUP}. */
export interface MdnsSocket {
  /**
   * Sends a packet to the group.
   * @throws {FatalError} If multicast is unavailable (the send failed).
   */
  send(packet: MdnsPacket): Promise<void>;
  /** Calls `listener` for every decoded packet, with the sender's address. */
  onPacket(listener: (packet: MdnsPacket, from: string) => void): void;
  /** Calls `listener` with one line for each socket error after the socket opened. */
  onError(listener: (line: string) => void): void;
  /** Closes the socket (after sends in flight). */
  close(): Promise<void>;
}

interface MulticastDnsOptions {
  reuseAddr?: boolean;
  loopback?: boolean;
}

interface RemoteInfo {
  address: string;
  port: number;
}

type SendCallback = (error?: Error | null) => void;

/** The part of `npm:multicast-dns` blit uses (the package has no type declarations). */
interface MulticastDns {
  on(event: "ready" | "networkInterface", listener: () => void): void;
  on(event: "error" | "warning", listener: (error: Error) => void): void;
  on(event: "packet", listener: (packet: MdnsPacket, rinfo: RemoteInfo) => void): void;
  respond(packet: MdnsPacket, callback: SendCallback): void;
  query(packet: MdnsPacket, callback: SendCallback): void;
  destroy(callback: () => void): void;
}

const createMulticastDns = multicastDns as (options?: MulticastDnsOptions) => MulticastDns;

const OPEN_TIMEOUT_MS = 5000;
const REQUERY_MS = 1000;
const TXT_DECODER = new TextDecoder();

/**
 * Builds the full DNS-SD name of an instance.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { instanceFullName } from "./mdns_scan.ts";
 * strictEqual(instanceFullName("blit@nas"), "blit@nas._blit._tcp.local");
 * ```
 *
 * @param instance The instance label (no dots).
 * @returns `<instance>._blit._tcp.local`.
 */
export function instanceFullName(instance: string): string {
  return `${instance}.${MDNS_SERVICE_TYPE}`;
}

/**
 * Reads the fields of a blit TXT record. Unknown keys are ignored; a missing or bad `modules=`
 * count falls back to the number of names.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseTxt } from "./mdns_scan.ts";
 * deepStrictEqual(parseTxt(["v=1", "modules=3", "names=a,b"]), {
 *   version: "1",
 *   moduleCount: 3,
 *   modules: ["a", "b"],
 * });
 * ```
 *
 * @param data TXT payload: a string, bytes, or an array of them (decoded packets carry bytes).
 * @returns The version, module count and module names.
 */
export function parseTxt(data: unknown): MdnsTxt {
  const items = Array.isArray(data) ? data : [data];
  const fields = new Map<string, string>();
  for (const item of items) {
    const text = typeof item === "string"
      ? item
      : item instanceof Uint8Array
      ? TXT_DECODER.decode(item)
      : null;
    if (text === null) continue;
    const at = text.indexOf("=");
    const key = (at < 0 ? text : text.slice(0, at)).toLowerCase();
    // RFC 6763 section 6.4: only the first occurrence of a key counts.
    if (key !== "" && !fields.has(key)) fields.set(key, at < 0 ? "" : text.slice(at + 1));
  }
  const modules = (fields.get("names") ?? "").split(",").filter((name) => name !== "");
  const countText = fields.get("modules") ?? "";
  const count = /^\d+$/.test(countText) ? Number(countText) : NaN;
  return {
    version: fields.get("v") ?? "",
    moduleCount: Number.isSafeInteger(count) && count >= modules.length ? count : modules.length,
    modules,
  };
}

interface SrvData {
  target: string;
  port: number;
}

/**
 * Collects the records of mDNS responses and assembles the blit daemons they describe: PTR
 * records of {@linkcode MDNS_SERVICE_TYPE} name instances, SRV records give their host and port,
 * TXT records their modules, A and AAAA records the host's addresses. A record with TTL 0 (a
 * goodbye) removes what it announced. Names are compared without case.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { ScanCollector } from "./mdns_scan.ts";
 * const collector = new ScanCollector();
 * collector.add({
 *   type: "response",
 *   answers: [
 *     { name: "_blit._tcp.local", type: "PTR", ttl: 4500, data: "blit@nas._blit._tcp.local" },
 *     { name: "blit@nas._blit._tcp.local", type: "SRV", ttl: 120, data: { target: "nas.local", port: 9031 } },
 *     { name: "blit@nas._blit._tcp.local", type: "TXT", ttl: 4500, data: ["v=1", "modules=1", "names=pub"] },
 *     { name: "nas.local", type: "A", ttl: 120, data: "192.168.1.5" },
 *   ],
 * });
 * deepStrictEqual(collector.daemons(), [{
 *   name: "blit@nas",
 *   host: "nas.local",
 *   port: 9031,
 *   addresses: ["192.168.1.5"],
 *   modules: ["pub"],
 *   moduleCount: 1,
 *   version: "1",
 * }]);
 * ```
 */
export class ScanCollector {
  /** Lower-case full instance name → full instance name as first seen. */
  #instances = new Map<string, string>();
  #srv = new Map<string, SrvData>();
  #txt = new Map<string, MdnsTxt>();
  /** Lower-case host name → addresses. */
  #addresses = new Map<string, Set<string>>();
  /** Lower-case full instance name → addresses the SRV record came from. */
  #senders = new Map<string, Set<string>>();

  /**
   * Adds the records of one packet; queries are ignored.
   * @param packet A decoded packet.
   * @param from The address it came from, used when no A/AAAA record names the host.
   */
  add(packet: MdnsPacket, from?: string): void {
    if (packet.type !== undefined && packet.type !== "response") return;
    const records = [
      ...(packet.answers ?? []),
      ...(packet.authorities ?? []),
      ...(packet.additionals ?? []),
    ];
    for (const record of records) this.#addRecord(record, from);
  }

  /**
   * Returns the daemons seen so far that have both a PTR and an SRV record, sorted by name.
   * @returns The daemons.
   */
  daemons(): DiscoveredDaemon[] {
    const found: DiscoveredDaemon[] = [];
    for (const [key, fullName] of this.#instances) {
      const srv = this.#srv.get(key);
      if (srv === undefined) continue;
      const txt = this.#txt.get(key) ?? { version: "", moduleCount: 0, modules: [] };
      const known = this.#addresses.get(srv.target.toLowerCase()) ?? this.#senders.get(key);
      found.push({
        name: fullName.slice(0, fullName.length - MDNS_SERVICE_TYPE.length - 1),
        host: srv.target,
        port: srv.port,
        addresses: [...(known ?? [])].sort(compareAddresses),
        modules: [...txt.modules],
        moduleCount: txt.moduleCount,
        version: txt.version,
      });
    }
    return found.sort((a, b) => a.name.localeCompare(b.name) || a.port - b.port);
  }

  #addRecord(record: MdnsRecord, from: string | undefined): void {
    if (record.class !== undefined && record.class !== "IN") return;
    const name = record.name.toLowerCase();
    const goodbye = record.ttl === 0;
    switch (record.type) {
      case "PTR": {
        if (name !== MDNS_SERVICE_TYPE || typeof record.data !== "string") return;
        const instance = record.data;
        const key = instance.toLowerCase();
        if (!key.endsWith(`.${MDNS_SERVICE_TYPE}`)) return;
        if (goodbye) this.#forget(key);
        else if (!this.#instances.has(key)) this.#instances.set(key, instance);
        return;
      }
      case "SRV": {
        const data = record.data as Partial<SrvData> | undefined;
        if (!name.endsWith(`.${MDNS_SERVICE_TYPE}`)) return;
        if (goodbye) {
          this.#forget(name);
          return;
        }
        if (typeof data?.target !== "string" || typeof data.port !== "number") return;
        this.#srv.set(name, { target: data.target, port: data.port });
        if (from !== undefined) {
          const senders = this.#senders.get(name) ?? new Set<string>();
          senders.add(from);
          this.#senders.set(name, senders);
        }
        return;
      }
      case "TXT":
        if (!name.endsWith(`.${MDNS_SERVICE_TYPE}`)) return;
        if (goodbye) this.#txt.delete(name);
        else this.#txt.set(name, parseTxt(record.data));
        return;
      case "A":
      case "AAAA": {
        if (typeof record.data !== "string") return;
        const addresses = this.#addresses.get(name) ?? new Set<string>();
        if (goodbye) addresses.delete(record.data);
        else addresses.add(record.data);
        if (addresses.size > 0) this.#addresses.set(name, addresses);
        else this.#addresses.delete(name);
        return;
      }
    }
  }

  #forget(key: string): void {
    this.#instances.delete(key);
    this.#srv.delete(key);
    this.#txt.delete(key);
    this.#senders.delete(key);
  }
}

function compareAddresses(a: string, b: string): number {
  const v6 = (text: string): number => (text.includes(":") ? 1 : 0);
  return v6(a) - v6(b) || a.localeCompare(b, "en", { numeric: true });
}

/**
 * Opens an mDNS socket: checks the Deno permissions, binds UDP 5353 (shared with other mDNS
 * responders on the host) and joins {@linkcode MDNS_GROUP} on every IPv4 interface.
 *
 * @param what What the socket is for, for error messages (`"scan for blit daemons"`).
 * @throws {FatalError} If a permission is missing, UDP 5353 cannot be bound, or no interface
 * could join the multicast group.
 * @returns The open socket.
 */
export async function openMdnsSocket(what: string): Promise<MdnsSocket> {
  checkMdnsPermissions(what);
  let mdns: MulticastDns;
  try {
    mdns = createMulticastDns({ reuseAddr: true, loopback: true });
  } catch (error) {
    throw new FatalError(`Cannot ${what}: cannot open a UDP socket: ${describeError(error)}`, {
      cause: error,
    });
  }
  const errorListeners: ((line: string) => void)[] = [];
  const packetListeners: ((packet: MdnsPacket, from: string) => void)[] = [];
  let joined = false;
  let lastWarning = "";
  const opened = Promise.withResolvers<void>();
  let isOpen = false;
  mdns.on("networkInterface", () => void (joined = true));
  mdns.on("warning", (error) => void (lastWarning = describeError(error)));
  mdns.on("error", (error) => {
    if (!isOpen) {
      opened.reject(
        new FatalError(
          `Cannot ${what}: cannot bind UDP port ${MDNS_PORT}: ${describeError(error)}`,
          { cause: error },
        ),
      );
    } else {
      for (const listener of errorListeners) listener(`mDNS socket error: ${describeError(error)}`);
    }
  });
  mdns.on("ready", () => opened.resolve());
  mdns.on("packet", (packet, rinfo) => {
    for (const listener of packetListeners) listener(packet, rinfo.address);
  });
  const timer = setTimeout(
    () => opened.reject(new FatalError(`Cannot ${what}: the mDNS socket did not open in time`)),
    OPEN_TIMEOUT_MS,
  );
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => mdns.destroy(() => resolve()));
    return closed;
  };
  try {
    await opened.promise;
  } catch (error) {
    await close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  isOpen = true;
  if (!joined) {
    await close();
    throw new FatalError(
      `Cannot ${what}: multicast is unavailable, no network interface could join ` +
        `${MDNS_GROUP}${lastWarning === "" ? "" : ` (${lastWarning})`}`,
    );
  }
  return {
    send: (packet) =>
      new Promise<void>((resolve, reject) => {
        const done: SendCallback = (error) => {
          if (!error) return resolve();
          reject(
            new FatalError(
              `Cannot ${what}: multicast is unavailable, sending to ${MDNS_GROUP}:${MDNS_PORT} ` +
                `failed (${describeError(error)}); check that a network interface with multicast ` +
                "is up and that 224.0.0.0/4 is routed",
              { cause: error },
            ),
          );
        };
        if (packet.type === "query") mdns.query(packet, done);
        else mdns.respond(packet, done);
      }),
    onPacket: (listener) => void packetListeners.push(listener),
    onError: (listener) => void errorListeners.push(listener),
    close,
  };
}

/**
 * Throws unless this process may use mDNS: UDP to {@linkcode MDNS_PORT} on `0.0.0.0` and on
 * {@linkcode MDNS_GROUP}, and the list of network interfaces.
 *
 * @param what What mDNS is for, for the error message.
 * @throws {FatalError} Naming the missing permission and the flags that grant it.
 */
export function checkMdnsPermissions(what: string): void {
  const needed: [Deno.PermissionDescriptor, string][] = [
    [{ name: "net", host: `0.0.0.0:${MDNS_PORT}` }, `net access to 0.0.0.0:${MDNS_PORT}`],
    [
      { name: "net", host: `${MDNS_GROUP}:${MDNS_PORT}` },
      `net access to ${MDNS_GROUP}:${MDNS_PORT}`,
    ],
    [{ name: "sys", kind: "networkInterfaces" }, "sys access to networkInterfaces"],
  ];
  for (const [descriptor, label] of needed) {
    if (Deno.permissions.querySync(descriptor).state !== "granted") {
      throw new FatalError(
        `Cannot ${what}: missing ${label}, run with --allow-net=0.0.0.0:${MDNS_PORT},` +
          `${MDNS_GROUP}:${MDNS_PORT} --allow-sys=networkInterfaces`,
      );
    }
  }
}

/**
 * Asks the local network for blit daemons: sends a PTR query for
 * {@linkcode MDNS_SERVICE_TYPE} (again after one second), collects the answers for
 * `waitMs`, and returns the daemons that answered.
 *
 * Requires `--allow-net=0.0.0.0:5353,224.0.0.251:5353` and `--allow-sys=networkInterfaces`.
 *
 * @example Usage
 * ```ts ignore
 * import { scanDaemons } from "./mdns_scan.ts";
 * for (const daemon of await scanDaemons({ waitMs: 2000 })) {
 *   console.log(daemon.name, daemon.host, daemon.port, daemon.modules);
 * }
 * ```
 *
 * @param options How long to wait, and a signal to stop early.
 * @throws {FatalError} If a permission is missing or multicast is unavailable.
 * @returns The daemons, sorted by name.
 */
export async function scanDaemons(options: ScanOptions = {}): Promise<DiscoveredDaemon[]> {
  const { waitMs = 2000, signal } = options;
  const socket = await openMdnsSocket("scan for blit daemons");
  const collector = new ScanCollector();
  socket.onPacket((packet, from) => collector.add(packet, from));
  const query: MdnsPacket = {
    type: "query",
    questions: [{ name: MDNS_SERVICE_TYPE, type: "PTR" }],
  };
  try {
    await socket.send(query);
    const ended = Promise.withResolvers<void>();
    const timers = [setTimeout(() => ended.resolve(), waitMs)];
    if (waitMs > REQUERY_MS * 1.5) {
      timers.push(setTimeout(() => socket.send(query).catch(() => {}), REQUERY_MS));
    }
    const onAbort = (): void => ended.resolve();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    await ended.promise;
    for (const timer of timers) clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  } finally {
    await socket.close();
  }
  return collector.daemons();
}
