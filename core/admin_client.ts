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
 * import { AdminClient } from "./admin_client.ts";
 * import { parseHostAddress } from "./endpoint.ts";
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
  DiskFreeRequestSchema,
  type DiskFreeResponse,
  DiskUsageRequestSchema,
  FindRequestSchema,
  ListDirRequestSchema,
  type ListDirResponse,
  ListModulesRequestSchema,
  type ListModulesResponse,
  RemoveRequestSchema,
  type RemoveResponse,
} from "../proto/gen/blit_pb.ts";
import type { BlitClient } from "./transport/grpc_service.ts";
import {
  ERRORS_TRAILER,
  findScopeToWire,
  foundEntryFromWire,
  listingFromWire,
  spaceFromWire,
  TRUNCATED_TRAILER,
  usageEntryFromWire,
} from "./transport/admin_wire.ts";
import { formatHostAddress, type HostAddress } from "./endpoint.ts";
import type {
  FindQuery,
  FoundEntry,
  Listing,
  ModuleSummary,
  SpaceReport,
  StreamEnd,
  UsageEntry,
} from "./admin/types.ts";

/** Deadline of a unary admin call, in milliseconds. */
export const ADMIN_CALL_TIMEOUT_MS = 20_000;

/** Deadline of a streamed admin call (`Find`, `DiskUsage`), in milliseconds. */
export const ADMIN_STREAM_TIMEOUT_MS = 150_000;

/** Entries buffered from a stream before it is paused. */
const STREAM_HIGH_WATER = 256;

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
    return listingFromWire(response);
  }

  /**
   * Searches a subtree by name, streamed.
   * @param query What to search.
   * @returns The matches; the generator's return value tells how the search ended.
   */
  find(query: FindQuery): AsyncGenerator<FoundEntry, StreamEnd> {
    const request = create(FindRequestSchema, {
      module: query.module,
      path: query.path,
      pattern: query.pattern ?? "",
      kind: findScopeToWire(query.kind),
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
    return spaceFromWire(response);
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
