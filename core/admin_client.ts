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
  ChallengeRequestSchema,
  type ChallengeResponse,
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
import { Buffer } from "node:buffer";
import type { BlitClient } from "./transport/grpc_service.ts";
import {
  type ConnectionSecurity,
  DaemonUnreachableError,
  openSecureChannel,
  type SecureChannel,
} from "./client_security.ts";
import {
  ERRORS_TRAILER,
  findScopeToWire,
  foundEntryFromWire,
  listingFromWire,
  PROOF_METADATA,
  spaceFromWire,
  TRUNCATED_TRAILER,
  usageEntryFromWire,
} from "./transport/admin_wire.ts";
import type { HostAddress } from "./endpoint.ts";
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
  /** The client's key and how it trusts the daemon (known hosts, CA, plaintext). */
  security?: ConnectionSecurity;
  /** Prints a notice (a new host, an unencrypted connection); default: standard error. */
  notify?: (line: string) => void;
}

/** A connection to one daemon's admin RPCs. Close it when done. */
export class AdminClient {
  readonly #client: BlitClient;
  readonly #grpc: typeof grpc;
  readonly #address: string;
  readonly #callMs: number;
  readonly #streamMs: number;
  readonly #channel: SecureChannel;

  private constructor(
    client: BlitClient,
    grpcModule: typeof grpc,
    channel: SecureChannel,
    options: AdminClientOptions,
  ) {
    const address = channel.address;
    this.#channel = channel;
    this.#client = client;
    this.#grpc = grpcModule;
    this.#address = address;
    this.#callMs = options.callTimeoutMs ?? ADMIN_CALL_TIMEOUT_MS;
    this.#streamMs = options.streamTimeoutMs ?? ADMIN_STREAM_TIMEOUT_MS;
  }

  /**
   * Creates a client for a daemon: settles its TLS trust (the known-hosts pin, recorded on first
   * contact) and loads the client's key; the gRPC channel connects on the first call.
   *
   * Requires `--allow-net` for the daemon, `--allow-env` (grpc-js reads its variables) and
   * read/write access to the known-hosts file and the key.
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
    const notify = options.notify ?? ((line: string) => console.error(line));
    let channel: SecureChannel;
    try {
      channel = await openSecureChannel(dial, options.security ?? {}, notify);
    } catch (error) {
      // The daemon could not be reached or its certificate read: the same class as a failed call.
      if (error instanceof DaemonUnreachableError) {
        throw new AdminCallError("UNAVAILABLE", error.message);
      }
      throw error;
    }
    const { credentials, options: channelOptions } = await channel.grpcChannel();
    const client = new BlitClientClass(channel.address, credentials, {
      ...blitChannelOptions(),
      ...channelOptions,
    });
    return new AdminClient(client, grpcModule, channel, options);
  }

  /** `SHA256:…` of the daemon's certificate (`""` without TLS). */
  get fingerprint(): string {
    return this.#channel.fingerprint;
  }

  /** The metadata of a call: the signed proof, or nothing for an anonymous client. */
  async #proof(method: string, module: string): Promise<grpc.Metadata> {
    const metadata = new this.#grpc.Metadata();
    if (!this.#channel.signed) return metadata;
    const challenge = await this.#unary<ChallengeResponse>(
      "authenticate",
      (options, done) =>
        this.#client.challenge(create(ChallengeRequestSchema), metadata, options, done),
    );
    this.#channel.checkReported(challenge.tlsFingerprint);
    const proof = await this.#channel.prove({
      purpose: "admin",
      nonce: challenge.nonce,
      module,
      method,
    });
    if (proof === null) return metadata;
    const signed = new this.#grpc.Metadata();
    signed.set(PROOF_METADATA.user, proof.user);
    signed.set(PROOF_METADATA.publicKey, Buffer.from(proof.publicKey));
    signed.set(PROOF_METADATA.nonce, Buffer.from(challenge.nonce));
    signed.set(PROOF_METADATA.signature, Buffer.from(proof.signature));
    return signed;
  }

  /** Closes the channel. */
  close(): void {
    this.#client.close();
  }

  /** Lists the daemon's modules, sorted by name. @returns The modules. */
  async listModules(): Promise<ModuleSummary[]> {
    return (await this.daemonModules()).modules;
  }

  /**
   * Lists the daemon's modules, sorted by name, with its message of the day.
   * @returns The modules and the motd (`""` for none).
   */
  async daemonModules(): Promise<{ modules: ModuleSummary[]; motd: string }> {
    const metadata = await this.#proof("modules", "");
    const response = await this.#unary<ListModulesResponse>(
      "list modules",
      (options, done) =>
        this.#client.listModules(
          create(ListModulesRequestSchema),
          metadata,
          options,
          done,
        ),
    );
    const modules = response.modules
      .map((m) => ({ name: m.name, read_only: m.readOnly, comment: m.comment }))
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return { modules, motd: response.motd };
  }

  /**
   * Lists one directory (or shows one entry when the path is not a directory).
   * @param module Module name (`""` for the default root).
   * @param path Path inside the module.
   * @returns The listing.
   */
  async listDir(module: string, path: string): Promise<Listing> {
    const metadata = await this.#proof("ls", module);
    const response = await this.#unary<ListDirResponse>(
      "list",
      (options, done) =>
        this.#client.listDir(
          create(ListDirRequestSchema, { module, path }),
          metadata,
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
      () => this.#proof("find", query.module),
      (options, metadata) => this.#client.find(request, metadata, options),
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
      () => this.#proof("du", module),
      (options, metadata) => this.#client.diskUsage(request, metadata, options),
      usageEntryFromWire,
    );
  }

  /**
   * Measures the filesystem that holds a module.
   * @param module Module name.
   * @returns Total, used and free bytes.
   */
  async diskFree(module: string): Promise<SpaceReport> {
    const metadata = await this.#proof("df", module);
    const response = await this.#unary<DiskFreeResponse>(
      "measure",
      (options, done) =>
        this.#client.diskFree(
          create(DiskFreeRequestSchema, { module }),
          metadata,
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
    const metadata = await this.#proof("rm", module);
    const response = await this.#unary<RemoveResponse>(
      "remove",
      (options, done) =>
        this.#client.remove(
          create(RemoveRequestSchema, { module, path, dryRun }),
          metadata,
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
    const slash = prefix.indexOf("/");
    const metadata = await this.#proof("complete", slash < 0 ? "" : prefix.slice(0, slash));
    const response = await this.#unary<CompletePathResponse>(
      "complete",
      (options, done) =>
        this.#client.completePath(
          create(CompletePathRequestSchema, { prefix, dirsOnly, limit }),
          metadata,
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
      const reason = new DaemonUnreachableError(this.#address, unavailableReason(details));
      return new AdminCallError(code, reason.message);
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
    proof: () => Promise<grpc.Metadata>,
    open: (
      options: Partial<grpc.CallOptions>,
      metadata: grpc.Metadata,
    ) => grpc.ClientReadableStream<W>,
    convert: (wire: W) => T,
  ): AsyncGenerator<T, StreamEnd> {
    const stream = open({ deadline: Date.now() + this.#streamMs }, await proof());
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

/** gRPC's words for a failed connection, said as the transfer client says them. */
const UNAVAILABLE_REASONS: [RegExp, string][] = [
  [/ECONNREFUSED/, "connection refused"],
  [/ECONNRESET|EPIPE/, "the connection was reset"],
  [/ETIMEDOUT/, "the connection timed out"],
  [/EHOSTUNREACH|ENETUNREACH/, "no route to the host"],
  [/ENOTFOUND|EAI_AGAIN/, "the host name does not resolve"],
];

/**
 * Why gRPC could not reach the daemon, without its internals ("No connection established.
 * Last error: Error: connect ECONNREFUSED …" is "connection refused").
 */
function unavailableReason(details: string): string {
  for (const [pattern, reason] of UNAVAILABLE_REASONS) {
    if (pattern.test(details)) return reason;
  }
  return details.replace(/^No connection established\. Last error: (?:Error: )?/, "")
    .replace(/\.? ?Resolution note: .*$/, "");
}
