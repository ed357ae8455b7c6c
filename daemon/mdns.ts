/**
 * The daemon's mDNS advertiser: announces `<instance>._blit._tcp.local` (PTR, SRV, TXT and the
 * host's A/AAAA records) when the server starts, answers queries for it, and sends goodbye
 * records (TTL 0) when it stops.
 *
 * Answers always go to the multicast group, never unicast to the asker, so the server needs no
 * network permission beyond `--allow-net=0.0.0.0:5353,224.0.0.251:5353`. It also needs
 * `--allow-sys=networkInterfaces` (addresses, group membership) and `--allow-sys=hostname` for
 * the default instance name; without the latter the host label comes from an interface address.
 * Probing and conflict resolution (RFC 6762 section 8) are not done: choose distinct
 * `mdns_name`s for daemons on one host.
 *
 * @module
 */

import type { DaemonConfig } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import {
  instanceFullName,
  MDNS_PROTOCOL_VERSION,
  MDNS_SERVICE_TYPE,
  type MdnsPacket,
  type MdnsRecord,
  type MdnsSocket,
  openMdnsSocket,
} from "../core/mdns_scan.ts";

/** Largest character-string in a TXT record, in bytes (RFC 1035: one length byte). */
export const TXT_STRING_MAX = 255;

/** TTL of SRV and address records, in seconds (RFC 6762 section 10). */
export const MDNS_HOST_TTL = 120;

/** TTL of PTR and TXT records, in seconds (RFC 6762 section 10). */
export const MDNS_SERVICE_TTL = 4500;

/** The DNS-SD meta-query name that lists service types. */
const SERVICES_META = "_services._dns-sd._udp.local";
const LABEL_MAX = 63;
const ANNOUNCE_AGAIN_MS = 1000;
const GOODBYE_TIMEOUT_MS = 1000;
const ENCODER = new TextEncoder();

/** What a daemon advertises. */
export interface AdvertisedService {
  /** Instance label, e.g. `blit@nas` (no dots, at most 63 bytes). */
  instance: string;
  /** Host name the SRV record points at, e.g. `nas.local`. */
  host: string;
  /** gRPC control port. */
  port: number;
  /** TXT strings, from {@linkcode buildTxt}. */
  txt: string[];
  /** Addresses published as A/AAAA records of `host`. */
  addresses: string[];
}

/** Options for {@linkcode MdnsAdvertiser.start} and {@linkcode startMdnsAdvertiser}. */
export interface AdvertiserOptions {
  /**
   * Where log lines go.
   * @default {console.error}
   */
  log?: (line: string) => void;
}

/** One network interface address, as `Deno.networkInterfaces()` lists it. */
export interface InterfaceAddress {
  /** `IPv4` or `IPv6`. */
  family: "IPv4" | "IPv6";
  /** The address. */
  address: string;
}

/**
 * Builds the TXT strings of a daemon: `v=` (protocol version), `modules=` (the exact module
 * count) and `names=` (comma-separated module names, cut after the last whole name that keeps
 * the string within {@linkcode TXT_STRING_MAX} bytes).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { buildTxt } from "./mdns.ts";
 * deepStrictEqual(buildTxt(["photos", "music"]), ["v=1", "modules=2", "names=photos,music"]);
 * ```
 *
 * @param modules Module names, in config order.
 * @returns The TXT strings.
 */
export function buildTxt(modules: readonly string[]): string[] {
  let names = "names=";
  let count = 0;
  for (const name of modules) {
    const next = count === 0 ? names + name : `${names},${name}`;
    if (ENCODER.encode(next).length > TXT_STRING_MAX) break;
    names = next;
    count++;
  }
  return [`v=${MDNS_PROTOCOL_VERSION}`, `modules=${modules.length}`, names];
}

/**
 * Returns the mDNS host name for a host: the first label of `hostname`, with characters other
 * than letters, digits and `-` replaced by `-`, plus `.local`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { mdnsHostName } from "./mdns.ts";
 * strictEqual(mdnsHostName("nas.example.com"), "nas.local");
 * ```
 *
 * @param hostname The machine's host name.
 * @returns `<label>.local` (`blitd.local` when nothing usable is left).
 */
export function mdnsHostName(hostname: string): string {
  return `${hostLabel(hostname)}.local`;
}

/**
 * Returns the instance label a daemon advertises: `mdnsName`, or `blit@<host label>` without
 * one. Dots become `-` (the label is one DNS label) and it is cut to 63 bytes.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { mdnsInstanceName } from "./mdns.ts";
 * strictEqual(mdnsInstanceName(null, "nas.example.com"), "blit@nas");
 * strictEqual(mdnsInstanceName("office.nas", "nas"), "office-nas");
 * ```
 *
 * @param mdnsName The configured `mdns_name`, or `null`.
 * @param hostname The machine's host name.
 * @returns The instance label.
 */
export function mdnsInstanceName(mdnsName: string | null, hostname: string): string {
  const name = (mdnsName ?? `blit@${hostLabel(hostname)}`).replaceAll(".", "-");
  return truncateUtf8(name, LABEL_MAX);
}

/**
 * Chooses the addresses to publish for a bind address: the bind address itself when it is a
 * specific one, `127.0.0.1` for `localhost`, and for `0.0.0.0` (IPv4) or `::` (IPv4 and IPv6)
 * the interfaces' addresses, leaving out loopback ones unless nothing else exists and IPv6
 * link-local ones (they need a zone).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { advertisedAddresses } from "./mdns.ts";
 * const interfaces = [
 *   { family: "IPv4" as const, address: "127.0.0.1" },
 *   { family: "IPv4" as const, address: "192.168.1.5" },
 * ];
 * deepStrictEqual(advertisedAddresses("0.0.0.0", interfaces), ["192.168.1.5"]);
 * deepStrictEqual(advertisedAddresses("10.0.0.2", interfaces), ["10.0.0.2"]);
 * ```
 *
 * @param bind The daemon's bind address.
 * @param interfaces The machine's interface addresses.
 * @returns The addresses, without duplicates.
 */
export function advertisedAddresses(
  bind: string,
  interfaces: readonly InterfaceAddress[],
): string[] {
  if (bind === "localhost") return ["127.0.0.1"];
  const anyV6 = bind === "::";
  if (bind !== "0.0.0.0" && !anyV6) return [bind];
  const usable = interfaces.filter((i) =>
    (i.family === "IPv4" || anyV6) && !/^fe[89ab]/i.test(i.address)
  );
  const external = usable.filter((i) => !isLoopback(i.address));
  return [...new Set((external.length > 0 ? external : usable).map((i) => i.address))];
}

/**
 * Builds the records of a service: PTR (`_blit._tcp.local` → instance), SRV, TXT and one A or
 * AAAA record per address. With `goodbye`, only PTR, SRV and TXT, all with TTL 0 (the address
 * records belong to the host, which may run other services).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { serviceRecords } from "./mdns.ts";
 * const service = { instance: "blit@nas", host: "nas.local", port: 9031, txt: [], addresses: ["10.0.0.2"] };
 * strictEqual(serviceRecords(service).map((r) => r.type).join(), "PTR,SRV,TXT,A");
 * strictEqual(serviceRecords(service, { goodbye: true }).every((r) => r.ttl === 0), true);
 * ```
 *
 * @param service What to advertise.
 * @param options `goodbye`: build TTL-0 withdrawal records.
 * @returns The records.
 */
export function serviceRecords(
  service: AdvertisedService,
  options: { goodbye?: boolean } = {},
): MdnsRecord[] {
  const { goodbye = false } = options;
  const full = instanceFullName(service.instance);
  const ttl = (live: number): number => (goodbye ? 0 : live);
  const records: MdnsRecord[] = [
    { name: MDNS_SERVICE_TYPE, type: "PTR", ttl: ttl(MDNS_SERVICE_TTL), data: full },
    {
      name: full,
      type: "SRV",
      ttl: ttl(MDNS_HOST_TTL),
      flush: true,
      data: { target: service.host, port: service.port, priority: 0, weight: 0 },
    },
    { name: full, type: "TXT", ttl: ttl(MDNS_SERVICE_TTL), flush: true, data: service.txt },
  ];
  if (goodbye) return records;
  for (const address of service.addresses) {
    records.push({
      name: service.host,
      type: address.includes(":") ? "AAAA" : "A",
      ttl: MDNS_HOST_TTL,
      data: address,
    });
  }
  return records;
}

/**
 * Builds the response to a query, or `null` when no question concerns this service. Questions
 * for `_blit._tcp.local` (PTR), the instance (SRV, TXT), the host (A, AAAA) and the DNS-SD
 * service list are answered; `ANY` matches every type. Records the question did not ask for go
 * in the additional section.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { answerQuery } from "./mdns.ts";
 * const service = { instance: "blit@nas", host: "nas.local", port: 9031, txt: [], addresses: [] };
 * const reply = answerQuery({ type: "query", questions: [{ name: "_blit._tcp.local", type: "PTR" }] }, service);
 * strictEqual(reply?.answers?.[0]?.data, "blit@nas._blit._tcp.local");
 * strictEqual(answerQuery({ type: "query", questions: [{ name: "_ssh._tcp.local", type: "PTR" }] }, service), null);
 * ```
 *
 * @param packet A decoded packet.
 * @param service What this daemon advertises.
 * @returns The response packet, or `null`.
 */
export function answerQuery(packet: MdnsPacket, service: AdvertisedService): MdnsPacket | null {
  if (packet.type !== "query") return null;
  const records = serviceRecords(service);
  const answers = new Set<MdnsRecord>();
  let meta = false;
  for (const question of packet.questions ?? []) {
    const name = question.name.toLowerCase();
    if (name === SERVICES_META && (question.type === "PTR" || question.type === "ANY")) {
      meta = true;
    }
    for (const record of records) {
      if (
        record.name.toLowerCase() === name &&
        (question.type === "ANY" || question.type === record.type)
      ) {
        answers.add(record);
      }
    }
  }
  if (answers.size === 0 && !meta) return null;
  const answerList = [...answers];
  if (meta) {
    answerList.push({
      name: SERVICES_META,
      type: "PTR",
      ttl: MDNS_SERVICE_TTL,
      data: MDNS_SERVICE_TYPE,
    });
  }
  return {
    type: "response",
    answers: answerList,
    additionals: answers.size === 0 ? [] : records.filter((record) => !answers.has(record)),
  };
}

/** Advertises one service over mDNS until {@linkcode MdnsAdvertiser.stop}. */
export class MdnsAdvertiser {
  #socket: MdnsSocket;
  #describe: () => AdvertisedService;
  #log: (line: string) => void;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #stopped: Promise<void> | null = null;

  /**
   * Wraps an open socket; use {@linkcode MdnsAdvertiser.start}, which also announces.
   * @param socket An open mDNS socket.
   * @param describe Returns what to advertise (called per answer, so addresses stay current).
   * @param log Where log lines go.
   */
  constructor(
    socket: MdnsSocket,
    describe: () => AdvertisedService,
    log: (line: string) => void,
  ) {
    this.#socket = socket;
    this.#describe = describe;
    this.#log = log;
    socket.onError((line) => log(`blitd: ${line}`));
    socket.onPacket((packet) => this.#answer(packet));
  }

  /**
   * Opens an mDNS socket, announces the service (again one second later) and answers queries.
   *
   * Requires `--allow-net=0.0.0.0:5353,224.0.0.251:5353` and `--allow-sys=networkInterfaces`.
   *
   * @param describe Returns what to advertise.
   * @param options Where log lines go.
   * @throws {FatalError} If a permission is missing or multicast is unavailable.
   * @returns The running advertiser.
   */
  static async start(
    describe: () => AdvertisedService,
    options: AdvertiserOptions = {},
  ): Promise<MdnsAdvertiser> {
    const { log = (line: string) => console.error(line) } = options;
    const socket = await openMdnsSocket("advertise over mDNS");
    const advertiser = new MdnsAdvertiser(socket, describe, log);
    try {
      await advertiser.#announce();
    } catch (error) {
      await socket.close();
      throw error;
    }
    advertiser.#later(ANNOUNCE_AGAIN_MS, () => advertiser.#announce());
    return advertiser;
  }

  /** The full DNS-SD name advertised, e.g. `blit@nas._blit._tcp.local`. */
  get fullName(): string {
    return instanceFullName(this.#describe().instance);
  }

  /**
   * Sends goodbye records (TTL 0) and closes the socket; later calls return the same promise.
   * @returns When the socket is closed.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      for (const timer of this.#timers) clearTimeout(timer);
      this.#timers.clear();
      const goodbye = this.#socket.send({
        type: "response",
        answers: serviceRecords(this.#describe(), { goodbye: true }),
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, GOODBYE_TIMEOUT_MS);
      });
      try {
        await Promise.race([goodbye, timeout]);
      } catch (error) {
        this.#log(`blitd: Cannot send mDNS goodbye: ${describeError(error)}`);
      } finally {
        clearTimeout(timer);
      }
      await this.#socket.close();
    })();
    return this.#stopped;
  }

  #announce(): Promise<void> {
    return this.#socket.send({ type: "response", answers: serviceRecords(this.#describe()) });
  }

  #answer(packet: MdnsPacket): void {
    if (this.#stopped !== null) return;
    const response = answerQuery(packet, this.#describe());
    if (response === null) return;
    // RFC 6762 section 6: delay shared answers by 20-120 ms to spread responders out.
    this.#later(20 + Math.floor(Math.random() * 100), () => this.#socket.send(response));
  }

  #later(ms: number, send: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#stopped !== null) return;
      send().catch((error) => this.#log(`blitd: Cannot answer over mDNS: ${describeError(error)}`));
    }, ms);
    this.#timers.add(timer);
  }
}

/**
 * Starts advertising a daemon whose gRPC service listens on `port`: instance
 * {@linkcode mdnsInstanceName}, host {@linkcode mdnsHostName}, TXT {@linkcode buildTxt} of the
 * modules, addresses {@linkcode advertisedAddresses} of the bind address.
 *
 * Requires `--allow-net=0.0.0.0:5353,224.0.0.251:5353`, `--allow-sys=networkInterfaces` and,
 * for the machine's host name, `--allow-sys=hostname`.
 *
 * @param config The daemon configuration (`bind`, `mdnsName`, modules).
 * @param port The gRPC port actually bound.
 * @param options Where log lines go.
 * @throws {FatalError} If a permission is missing or multicast is unavailable.
 * @returns The running advertiser.
 */
export function startMdnsAdvertiser(
  config: DaemonConfig,
  port: number,
  options: AdvertiserOptions = {},
): Promise<MdnsAdvertiser> {
  const hostname = localHostname();
  const instance = mdnsInstanceName(config.mdnsName, hostname);
  const host = mdnsHostName(hostname);
  const txt = buildTxt(config.modules.map((module) => module.name));
  return MdnsAdvertiser.start(
    () => ({
      instance,
      host,
      port,
      txt,
      addresses: advertisedAddresses(config.bind, readInterfaces()),
    }),
    options,
  );
}

/**
 * The machine's host name when `--allow-sys=hostname` is granted; otherwise a name made from
 * the first non-loopback IPv4 address (`blitd-192-168-1-5`), or `blitd`.
 */
function localHostname(): string {
  if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
    try {
      return Deno.hostname();
    } catch { /* fall through */ }
  }
  const address = readInterfaces().find((i) => i.family === "IPv4" && !isLoopback(i.address));
  return address === undefined ? "blitd" : `blitd-${address.address.replaceAll(".", "-")}`;
}

function readInterfaces(): InterfaceAddress[] {
  try {
    return Deno.networkInterfaces();
  } catch {
    return [];
  }
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1";
}

function hostLabel(hostname: string): string {
  const label = (hostname.split(".", 1)[0] ?? "").replace(/[^A-Za-z0-9-]/g, "-")
    .replace(/^-+|-+$/g, "");
  return label === "" ? "blitd" : label.slice(0, LABEL_MAX);
}

function truncateUtf8(text: string, max: number): string {
  if (ENCODER.encode(text).length <= max) return text;
  let out = "";
  let bytes = 0;
  for (const char of text) {
    const size = ENCODER.encode(char).length;
    if (bytes + size > max) break;
    out += char;
    bytes += size;
  }
  return out;
}
