/**
 * Typed client helpers for the admin RPCs of a blit daemon (`ListModules`, `ListDir`, `Find`,
 * `DiskUsage`, `DiskFree`, `Remove`, `CompletePath`), used by `blit list` and `blit-utils`.
 *
 * Every call has a deadline; answers come back as plain JSON-ready objects (numbers, ISO times,
 * snake_case keys) and failures as one-line {@linkcode AdminCallError}s that carry the gRPC
 * status name.
 *
 * @example Usage
 * ```ts ignore
 * import { AdminClient, parseHostAddress } from "./admin_client.ts";
 * const client = await AdminClient.connect(parseHostAddress("nas:9031"));
 * try {
 *   for (const m of await client.listModules()) console.log(m.name);
 *   for await (const hit of client.find({ module: "photos", path: "", pattern: "*.jpg" })) {
 *     console.log(hit.path);
 *   }
 * } finally {
 *   client.close();
 * }
 * ```
 *
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  CompletePathRequestSchema,
  type CompletePathResponse,
  type DirEntry,
  DiskFreeRequestSchema,
  type DiskFreeResponse,
  type DiskUsageEntry,
  DiskUsageRequestSchema,
  EntryKind,
  FindKind,
  FindRequestSchema,
  type FindResult,
  ListDirRequestSchema,
  type ListDirResponse,
  ListModulesRequestSchema,
  type ListModulesResponse,
  RemoveRequestSchema,
  type RemoveResponse,
} from "../proto/gen/blit_pb.ts";
import type { BlitClient } from "./transport/grpc_service.ts";
import { DEFAULT_PORT } from "./remote_path.ts";

/** Deadline of a unary admin call, in milliseconds. */
export const ADMIN_CALL_TIMEOUT_MS = 20_000;

/** Deadline of a streamed admin call (`Find`, `DiskUsage`), in milliseconds. */
export const ADMIN_STREAM_TIMEOUT_MS = 150_000;

/** Trailing metadata key the daemon sets when a streamed answer was cut at its limit. */
const TRUNCATED_TRAILER = "blit-truncated";

/** Trailing metadata key holding the count of entries a daemon walk could not read. */
const ERRORS_TRAILER = "blit-errors";

/** Entries buffered from a stream before it is paused. */
const STREAM_HIGH_WATER = 256;

/** A daemon's address. */
export interface HostAddress {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** TCP port. */
  port: number;
}

const HOST_REGEXP = /^[A-Za-z0-9._-]+$/;
const IPV6_REGEXP = /^[0-9A-Fa-f:.%]+$/;

/**
 * Parses `HOST`, `HOST:PORT`, `[IPV6]` or `[IPV6]:PORT` (the port defaults to 9031).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseHostAddress } from "./admin_client.ts";
 * deepStrictEqual(parseHostAddress("nas"), { host: "nas", port: 9031 });
 * deepStrictEqual(parseHostAddress("[::1]:9000"), { host: "::1", port: 9000 });
 * ```
 *
 * @param text The address as typed.
 * @throws {TypeError} If the host is empty or has invalid characters, or the port is not 1-65535.
 * @returns Host and port.
 */
export function parseHostAddress(text: string): HostAddress {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    host = close < 0 ? "" : text.slice(1, close);
    const rest = close < 0 ? "" : text.slice(close + 1);
    if (close < 0 || !IPV6_REGEXP.test(host) || (rest !== "" && !rest.startsWith(":"))) {
      throw new TypeError(`Cannot parse host "${text}": write [IPV6] or [IPV6]:PORT`);
    }
    portText = rest === "" ? undefined : rest.slice(1);
  } else {
    const parts = text.split(":");
    if (parts.length > 2) {
      throw new TypeError(`Cannot parse host "${text}": write HOST, HOST:PORT or [IPV6]:PORT`);
    }
    host = parts[0] ?? "";
    portText = parts[1];
    if (!HOST_REGEXP.test(host)) {
      throw new TypeError(
        `Cannot parse host "${text}": ${host === "" ? "it is empty" : "it has invalid characters"}`,
      );
    }
  }
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) {
      throw new TypeError(`Cannot parse host "${text}": port "${portText}" is not 1-65535`);
    }
  }
  return { host, port };
}

/**
 * Formats an address as `host:port` (IPv6 in brackets), the form grpc-js dials.
 * @param address The address.
 * @returns The text.
 */
export function formatHostAddress(address: HostAddress): string {
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}

/** A failed admin call: one line, with the gRPC status name. */
export class AdminCallError extends Error {
  /** The gRPC status name, e.g. `NOT_FOUND`, `PERMISSION_DENIED`, `UNAVAILABLE`. */
  readonly code: string;

  /**
   * Creates the error.
   * @param code The gRPC status name.
   * @param message One line: "Cannot ...".
   */
  constructor(code: string, message: string) {
    super(message);
    this.name = "AdminCallError";
    this.code = code;
  }
}

/** An exported module. */
export interface ModuleSummary {
  /** Name (the first remote path segment). */
  name: string;
  /** Pushes, moves from it and removals are refused. */
  read_only: boolean;
  /** Free text from the daemon's configuration. */
  comment: string;
}

/** Kind of an entry as shown to users. */
export type EntryType = "file" | "dir" | "symlink" | "other";

/** One entry of a listed directory. */
export interface ListedEntry {
  /** Entry name. */
  name: string;
  /** Kind. */
  type: EntryType;
  /** Size in bytes (0 for directories). */
  size: number;
  /** Modification time, ISO 8601. */
  mtime: string;
  /** Permission bits. */
  mode: number;
  /** Target of a symlink; absent for other kinds. */
  link_target?: string;
}

/** A directory listing. */
export interface Listing {
  /** The entries, sorted by name. */
  entries: ListedEntry[];
  /** The daemon cut the listing at its limit. */
  truncated: boolean;
}

/** One match of a find. */
export interface FoundEntry {
  /** Path relative to the module root. */
  path: string;
  /** Kind. */
  type: EntryType;
  /** Size in bytes (0 for directories). */
  size: number;
  /** Modification time, ISO 8601. */
  mtime: string;
}

/** Totals of one directory. */
export interface UsageEntry {
  /** Path relative to the module root. */
  path: string;
  /** Depth below the requested path (0 = the path itself, reported last). */
  depth: number;
  /** Sum of file sizes. */
  bytes: number;
  /** Files and links counted. */
  files: number;
  /** Directories counted below it. */
  dirs: number;
  /** Entries that could not be read. */
  errors: number;
}

/** Capacity of a module's filesystem. */
export interface SpaceReport {
  /** Total size in bytes. */
  total_bytes: number;
  /** Bytes in use. */
  used_bytes: number;
  /** Bytes available to the daemon. */
  free_bytes: number;
}

/** How a streamed call ended. */
export interface StreamEnd {
  /** The daemon stopped at its limit or the requested one. */
  truncated: boolean;
  /** Directories the daemon could not read. */
  errors: number;
}

/** A find request. */
export interface FindQuery {
  /** Module name (`""` for the default root). */
  module: string;
  /** Path of the subtree inside the module (`""` for its root). */
  path: string;
  /** Glob matched against entry names; `""` or absent matches everything. */
  pattern?: string;
  /** Which kinds to report. */
  kind?: "all" | "files" | "dirs";
  /** Match case-insensitively. */
  caseInsensitive?: boolean;
  /** Most results (0 or absent: the daemon's limit). */
  limit?: number;
}

/**
 * Maps a wire entry kind to the user-facing type.
 * @param kind The wire kind.
 * @returns `file`, `dir`, `symlink` or `other`.
 */
export function entryTypeFromWire(kind: EntryKind): EntryType {
  switch (kind) {
    case EntryKind.FILE:
      return "file";
    case EntryKind.DIR:
      return "dir";
    case EntryKind.SYMLINK:
      return "symlink";
    default:
      return "other";
  }
}

function isoFromNs(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

/**
 * Converts a wire `DirEntry` to a {@linkcode ListedEntry}.
 * @param entry The wire entry.
 * @returns The plain entry.
 */
export function listedEntryFromWire(entry: DirEntry): ListedEntry {
  const out: ListedEntry = {
    name: entry.name,
    type: entryTypeFromWire(entry.kind),
    size: Number(entry.size),
    mtime: isoFromNs(entry.mtimeNs),
    mode: entry.mode,
  };
  if (entry.kind === EntryKind.SYMLINK) out.link_target = entry.linkTarget;
  return out;
}

/**
 * Converts a wire `FindResult` to a {@linkcode FoundEntry}.
 * @param result The wire result.
 * @returns The plain entry.
 */
export function foundEntryFromWire(result: FindResult): FoundEntry {
  return {
    path: result.path,
    type: entryTypeFromWire(result.kind),
    size: Number(result.size),
    mtime: isoFromNs(result.mtimeNs),
  };
}

/**
 * Converts a wire `DiskUsageEntry` to a {@linkcode UsageEntry}.
 * @param entry The wire entry.
 * @returns The plain entry.
 */
export function usageEntryFromWire(entry: DiskUsageEntry): UsageEntry {
  return {
    path: entry.path,
    depth: entry.depth,
    bytes: Number(entry.bytes),
    files: Number(entry.files),
    dirs: Number(entry.dirs),
    errors: Number(entry.errors),
  };
}

/** Options of {@linkcode AdminClient.connect}. */
export interface AdminClientOptions {
  /**
   * Deadline of unary calls in milliseconds.
   * @default {ADMIN_CALL_TIMEOUT_MS}
   */
  callTimeoutMs?: number;
  /**
   * Deadline of streamed calls in milliseconds.
   * @default {ADMIN_STREAM_TIMEOUT_MS}
   */
  streamTimeoutMs?: number;
}

/** A connection to one daemon's admin RPCs. Close it when done. */
export class AdminClient {
  readonly #client: BlitClient;
  readonly #grpc: typeof grpc;
  readonly #address: string;
  readonly #callMs: number;
  readonly #streamMs: number;

  private constructor(
    client: BlitClient,
    grpcModule: typeof grpc,
    address: string,
    options: AdminClientOptions,
  ) {
    this.#client = client;
    this.#grpc = grpcModule;
    this.#address = address;
    this.#callMs = options.callTimeoutMs ?? ADMIN_CALL_TIMEOUT_MS;
    this.#streamMs = options.streamTimeoutMs ?? ADMIN_STREAM_TIMEOUT_MS;
  }

  /**
   * Creates a client for a daemon (the channel connects on the first call).
   *
   * Requires `--allow-net` for the daemon and `--allow-env` (grpc-js reads its variables).
   *
   * @param address The daemon.
   * @param options Deadlines.
   * @returns The client.
   */
  static async connect(
    address: HostAddress,
    options: AdminClientOptions = {},
  ): Promise<AdminClient> {
    const grpcModule = await import("@grpc/grpc-js");
    const { BlitClientClass, blitChannelOptions } = await import("./transport/grpc_service.ts");
    const dial = { ...address, host: address.host === "localhost" ? "127.0.0.1" : address.host };
    const text = formatHostAddress(dial);
    const client = new BlitClientClass(
      text,
      grpcModule.credentials.createInsecure(),
      blitChannelOptions(),
    );
    return new AdminClient(client, grpcModule, text, options);
  }

  /** Closes the channel. */
  close(): void {
    this.#client.close();
  }

  /** Lists the daemon's modules, sorted by name. @returns The modules. */
  async listModules(): Promise<ModuleSummary[]> {
    const response = await this.#unary<ListModulesResponse>(
      "list modules",
      (options, done) =>
        this.#client.listModules(
          create(ListModulesRequestSchema),
          new this.#grpc.Metadata(),
          options,
          done,
        ),
    );
    return response.modules
      .map((m) => ({ name: m.name, read_only: m.readOnly, comment: m.comment }))
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  }

  /**
   * Lists one directory (or shows one entry when the path is not a directory).
   * @param module Module name (`""` for the default root).
   * @param path Path inside the module.
   * @returns The listing.
   */
  async listDir(module: string, path: string): Promise<Listing> {
    const response = await this.#unary<ListDirResponse>(
      "list",
      (options, done) =>
        this.#client.listDir(
          create(ListDirRequestSchema, { module, path }),
          new this.#grpc.Metadata(),
          options,
          done,
        ),
    );
    return { entries: response.entries.map(listedEntryFromWire), truncated: response.truncated };
  }

  /**
   * Searches a subtree by name, streamed.
   * @param query What to search.
   * @returns The matches; the generator's return value tells how the search ended.
   */
  find(query: FindQuery): AsyncGenerator<FoundEntry, StreamEnd> {
    const kind = query.kind === "files"
      ? FindKind.FILES
      : query.kind === "dirs"
      ? FindKind.DIRS
      : FindKind.UNSPECIFIED;
    const request = create(FindRequestSchema, {
      module: query.module,
      path: query.path,
      pattern: query.pattern ?? "",
      kind,
      caseInsensitive: query.caseInsensitive ?? false,
      limit: query.limit ?? 0,
    });
    return this.#stream(
      "search",
      (options) => this.#client.find(request, new this.#grpc.Metadata(), options),
      foundEntryFromWire,
    );
  }

  /**
   * Totals a subtree per directory, streamed deepest-first (the requested path last).
   * @param module Module name.
   * @param path Path inside the module.
   * @param maxDepth Report directories down to this depth (0 = the path only).
   * @returns The entries; the return value tells whether the daemon cut the report.
   */
  diskUsage(module: string, path: string, maxDepth = 0): AsyncGenerator<UsageEntry, StreamEnd> {
    const request = create(DiskUsageRequestSchema, { module, path, maxDepth });
    return this.#stream(
      "total",
      (options) => this.#client.diskUsage(request, new this.#grpc.Metadata(), options),
      usageEntryFromWire,
    );
  }

  /**
   * Measures the filesystem that holds a module.
   * @param module Module name.
   * @returns Total, used and free bytes.
   */
  async diskFree(module: string): Promise<SpaceReport> {
    const response = await this.#unary<DiskFreeResponse>(
      "measure",
      (options, done) =>
        this.#client.diskFree(
          create(DiskFreeRequestSchema, { module }),
          new this.#grpc.Metadata(),
          options,
          done,
        ),
    );
    return {
      total_bytes: Number(response.totalBytes),
      used_bytes: Number(response.usedBytes),
      free_bytes: Number(response.freeBytes),
    };
  }

  /**
   * Removes an entry (recursively) in a writable module.
   * @param module Module name.
   * @param path Path inside the module (not `""`).
   * @param dryRun Count only.
   * @returns Entries removed (or that would be).
   */
  async remove(module: string, path: string, dryRun = false): Promise<number> {
    const response = await this.#unary<RemoveResponse>(
      "remove",
      (options, done) =>
        this.#client.remove(
          create(RemoveRequestSchema, { module, path, dryRun }),
          new this.#grpc.Metadata(),
          options,
          done,
        ),
      this.#streamMs,
    );
    return Number(response.removed);
  }

  /**
   * Completes a remote path prefix (the text after `host:/`).
   * @param prefix `mod` completes module names, `mod/dir/pa` entries of `mod/dir`.
   * @param dirsOnly Offer directories only.
   * @param limit Most candidates (0 = the daemon's limit).
   * @returns The candidates (directories end with `/`).
   */
  async completePath(prefix: string, dirsOnly = false, limit = 0): Promise<string[]> {
    const response = await this.#unary<CompletePathResponse>(
      "complete",
      (options, done) =>
        this.#client.completePath(
          create(CompletePathRequestSchema, { prefix, dirsOnly, limit }),
          new this.#grpc.Metadata(),
          options,
          done,
        ),
    );
    return response.candidates;
  }

  #error(action: string, error: unknown, timeoutMs: number): AdminCallError {
    const status = error as Partial<grpc.ServiceError>;
    const code = typeof status.code === "number"
      ? (this.#grpc.status[status.code] ?? String(status.code))
      : "UNKNOWN";
    const details = (status.details ?? (error instanceof Error ? error.message : String(error)))
      .split("\n", 1)[0] ?? "";
    if (code === "UNAVAILABLE") {
      return new AdminCallError(
        code,
        `Cannot connect to blitd at ${this.#address}: ${details}; is the daemon running?`,
      );
    }
    if (code === "DEADLINE_EXCEEDED" && !details.startsWith("Cannot")) {
      return new AdminCallError(
        code,
        `Cannot ${action} on blitd at ${this.#address}: no answer within ${
          Math.round(timeoutMs / 1000)
        } s`,
      );
    }
    if (code === "UNIMPLEMENTED") {
      return new AdminCallError(
        code,
        `Cannot ${action} on blitd at ${this.#address}: the daemon is too old for this call`,
      );
    }
    return new AdminCallError(
      code,
      details.startsWith("Cannot") ? details : `Cannot ${action}: ${details}`,
    );
  }

  #unary<T>(
    action: string,
    call: (options: Partial<grpc.CallOptions>, done: grpc.requestCallback<T>) => unknown,
    timeoutMs: number = this.#callMs,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      call({ deadline: Date.now() + timeoutMs }, (error, value) => {
        if (error) reject(this.#error(action, error, timeoutMs));
        else if (value === undefined) {
          reject(new AdminCallError("INTERNAL", `Cannot ${action}: the daemon sent no answer`));
        } else resolve(value);
      });
    });
  }

  async *#stream<W, T>(
    action: string,
    open: (options: Partial<grpc.CallOptions>) => grpc.ClientReadableStream<W>,
    convert: (wire: W) => T,
  ): AsyncGenerator<T, StreamEnd> {
    const stream = open({ deadline: Date.now() + this.#streamMs });
    const queue: W[] = [];
    let failure: unknown = null;
    let ended = false;
    let paused = false;
    let wake: (() => void) | null = null;
    const status = Promise.withResolvers<grpc.StatusObject | null>();
    const notify = (): void => {
      wake?.();
      wake = null;
    };
    stream.on("data", (message: W) => {
      queue.push(message);
      if (queue.length >= STREAM_HIGH_WATER && !paused) {
        paused = true;
        stream.pause();
      }
      notify();
    });
    stream.on("error", (error: unknown) => {
      failure = error;
      ended = true;
      status.resolve(null);
      notify();
    });
    stream.on("status", (s: grpc.StatusObject) => status.resolve(s));
    stream.on("end", () => {
      ended = true;
      notify();
    });
    let finished = false;
    try {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          if (paused && queue.length < STREAM_HIGH_WATER / 2) {
            paused = false;
            stream.resume();
          }
          yield convert(next);
          continue;
        }
        if (failure !== null) throw this.#error(action, failure, this.#streamMs);
        if (ended) break;
        await new Promise<void>((resolve) => (wake = resolve));
      }
      finished = true;
      const timer = Promise.withResolvers<null>();
      const id = setTimeout(() => timer.resolve(null), 1000);
      const final = await Promise.race([status.promise, timer.promise]);
      clearTimeout(id);
      const truncated = final?.metadata.get(TRUNCATED_TRAILER)[0] === "true";
      const errors = Number(final?.metadata.get(ERRORS_TRAILER)[0] ?? 0);
      return { truncated, errors: Number.isFinite(errors) ? errors : 0 };
    } finally {
      if (!finished) stream.cancel();
    }
  }
}
