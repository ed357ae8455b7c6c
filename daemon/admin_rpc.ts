/**
 * The daemon's admin RPCs: `ListDir`, `Find`, `DiskUsage`, `DiskFree`, `Remove` and
 * `CompletePath`, as thin adapters over the operations of `core/admin/`.
 *
 * Each handler decodes the request, looks the module up ({@linkcode lookupModule}), opens it as
 * a {@linkcode ContainedTree} (every path confined to the module, errors worded with
 * module-relative paths), runs one operation under an {@linkcode AdminBudget}, and encodes the
 * answer. Failures become one-line gRPC errors: an {@linkcode AdminError}'s code is mapped to a
 * gRPC status here, and only here. Streamed answers end with the `blit-truncated` and
 * `blit-errors` trailers.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import {
  ADMIN_LIMITS,
  AdminBudget,
  AdminError,
  type AdminErrorCode,
  completeEntries,
  diskUsage,
  errorKind,
  filesystemSpace,
  findEntries,
  guardNestedExports,
  listDirectory,
  removeEntry,
  type StreamEnd,
  toAdminError,
} from "../core/admin/mod.ts";
import type { DaemonConfig } from "../core/config.ts";
import { type ExportedModule, lookupModule } from "../core/endpoint.ts";
import { ContainedTree } from "../core/contained_tree.ts";
import {
  candidatesToWire,
  ERRORS_TRAILER,
  findScopeFromWire,
  foundEntryToWire,
  listingToWire,
  removedToWire,
  spaceToWire,
  TRUNCATED_TRAILER,
  usageEntryToWire,
} from "../core/transport/admin_wire.ts";
import type { BlitServer } from "../core/transport/grpc_service.ts";

/** What the admin handlers need from the server. */
export interface AdminRpcContext {
  /** The resolved configuration. */
  config: DaemonConfig;
  /** Writes one log line. */
  log: (line: string) => void;
}

/** The admin RPC handlers of {@linkcode BlitServer}. */
export type AdminHandlers = Pick<
  BlitServer,
  "listDir" | "find" | "diskUsage" | "diskFree" | "remove" | "completePath"
>;

/** The gRPC status of each admin failure. */
const STATUS_OF: Record<AdminErrorCode, grpc.status> = {
  "invalid": grpc.status.INVALID_ARGUMENT,
  "not-found": grpc.status.NOT_FOUND,
  "permission": grpc.status.PERMISSION_DENIED,
  "read-only": grpc.status.PERMISSION_DENIED,
  "too-large": grpc.status.RESOURCE_EXHAUSTED,
  "deadline": grpc.status.DEADLINE_EXCEEDED,
  "cancelled": grpc.status.CANCELLED,
  "unsupported": grpc.status.FAILED_PRECONDITION,
  "unavailable": grpc.status.UNAVAILABLE,
  "internal": grpc.status.INTERNAL,
};

/**
 * The gRPC error sent for an admin failure.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { AdminError } from "../core/admin/mod.ts";
 * import { grpcErrorOf } from "./admin_rpc.ts";
 * strictEqual(grpcErrorOf(new AdminError("read-only", "Cannot remove")).code, 7);
 * ```
 *
 * @param error The failure.
 * @returns The error with its status and details.
 */
export function grpcErrorOf(error: AdminError): grpc.ServerErrorResponse {
  return Object.assign(new Error(error.message), {
    code: STATUS_OF[error.code],
    details: error.message,
  });
}

/** Clamps a requested count to a cap (0 = the cap). */
function clamp(requested: number, cap: number): number {
  return requested === 0 ? cap : Math.min(requested, cap);
}

/** Writes to a server stream, waiting while its buffer is full. */
async function send<T>(call: grpc.ServerWritableStream<unknown, T>, message: T): Promise<void> {
  if (call.write(message)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      call.off("cancelled", done);
      resolve();
    };
    call.on("drain", done);
    call.on("cancelled", done);
  });
}

/** Opens an export as a contained tree. */
function openTree(exported: ExportedModule, action: string): ContainedTree {
  try {
    return ContainedTree.open(exported.path, { symlinks: false });
  } catch (error) {
    throw new AdminError(
      "unavailable",
      `Cannot ${action} in ${exported.label}: its directory cannot be opened (${errorKind(error)})`,
    );
  }
}

/** Runs an operation on an export, wording its errors with the path the request named. */
async function guarded<T>(
  exported: ExportedModule,
  action: string,
  rel: string,
  body: () => Promise<T>,
): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toAdminError(error, action, rel, exported.label);
  }
}

/** Streams a generator's values, converted, and returns how it ended. */
async function pipe<T, W>(
  call: grpc.ServerWritableStream<unknown, W>,
  values: AsyncGenerator<T, StreamEnd>,
  convert: (value: T) => W,
): Promise<StreamEnd> {
  for (;;) {
    const step = await values.next();
    if (step.done) return step.value;
    await send(call, convert(step.value));
  }
}

/**
 * Builds the admin handlers of the daemon.
 *
 * @param context Configuration and logger.
 * @returns The six handlers, to spread into the server's {@linkcode BlitServer}.
 */
export function createAdminHandlers(context: AdminRpcContext): AdminHandlers {
  const { config, log } = context;
  const exportPaths = [
    ...config.modules.map((m) => m.path),
    ...(config.root === null ? [] : [config.root]),
  ];
  const report = (peer: string, error: AdminError): void => {
    if (error.code === "internal" || error.code === "unavailable") {
      log(`blitd: ${peer}: ${error.message}`);
    }
  };
  const unary = <Req, Res>(
    name: string,
    run: (request: Req, cancelled: () => boolean) => Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> =>
  (call, callback) => {
    run(call.request, () => call.cancelled).then(
      (response) => callback(null, response),
      (error) => {
        const typed = toAdminError(error, name, "", "the request");
        report(call.getPeer(), typed);
        callback(grpcErrorOf(typed), null);
      },
    );
  };
  const stream = <Req, Res>(
    name: string,
    run: (request: Req, call: grpc.ServerWritableStream<Req, Res>) => Promise<StreamEnd>,
  ): grpc.handleServerStreamingCall<Req, Res> =>
  (call) => {
    run(call.request, call).then(
      (end) => {
        const trailer = new grpc.Metadata();
        if (end.truncated) trailer.set(TRUNCATED_TRAILER, "true");
        if (end.errors > 0) trailer.set(ERRORS_TRAILER, String(end.errors));
        call.end(trailer);
      },
      (error) => {
        const typed = toAdminError(error, name, "", "the request");
        report(call.getPeer(), typed);
        call.emit("error", grpcErrorOf(typed));
      },
    );
  };

  return {
    listDir: unary("list", async (request, cancelled) => {
      const exported = lookupModule(config, request.module);
      const tree = openTree(exported, "list");
      const budget = new AdminBudget(`list in ${exported.label}`, ADMIN_LIMITS.unaryMs, cancelled);
      const listing = await guarded(
        exported,
        "list",
        request.path,
        () => listDirectory(tree, request.path, { budget }),
      );
      return listingToWire(listing);
    }),
    find: stream("search", async (request, call) => {
      const exported = lookupModule(config, request.module);
      const tree = openTree(exported, "search");
      const budget = new AdminBudget(
        `search in ${exported.label}`,
        ADMIN_LIMITS.walkMs,
        () => call.cancelled,
      );
      return await guarded(exported, "search", request.path, () =>
        pipe(
          call,
          findEntries(tree, request.path, {
            budget,
            pattern: request.pattern,
            kind: findScopeFromWire(request.kind),
            caseInsensitive: request.caseInsensitive,
            limit: clamp(request.limit, ADMIN_LIMITS.findResults),
          }),
          foundEntryToWire,
        ));
    }),
    diskUsage: stream("total", async (request, call) => {
      const exported = lookupModule(config, request.module);
      const tree = openTree(exported, "total");
      const budget = new AdminBudget(
        `total ${exported.label}`,
        ADMIN_LIMITS.walkMs,
        () => call.cancelled,
      );
      return await guarded(exported, "total", request.path, () =>
        pipe(
          call,
          diskUsage(tree, request.path, { budget, maxDepth: request.maxDepth }),
          usageEntryToWire,
        ));
    }),
    diskFree: unary("measure", async (request) => {
      const exported = lookupModule(config, request.module);
      openTree(exported, "measure"); // refuses an export whose directory is gone
      try {
        return spaceToWire(await filesystemSpace(exported.path));
      } catch (error) {
        if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.NotSupported) {
          throw new AdminError(
            "unsupported",
            `Cannot measure the filesystem of ${exported.label}: the daemon runs without ` +
              `--allow-sys=statfs`,
          );
        }
        throw toAdminError(error, "measure the filesystem of", "", exported.label);
      }
    }),
    remove: unary("remove", async (request, cancelled) => {
      const exported = lookupModule(config, request.module);
      if (exported.readOnly) {
        throw new AdminError("read-only", `Cannot remove from ${exported.label}: it is read-only`);
      }
      const tree = openTree(exported, "remove");
      const budget = new AdminBudget(
        `remove from ${exported.label}`,
        ADMIN_LIMITS.walkMs,
        cancelled,
      );
      const others = exportPaths.filter((p) => p !== exported.path);
      const removed = await guarded(exported, "remove", request.path, () => {
        guardNestedExports(exported.path, request.path, others);
        return removeEntry(tree, request.path, { budget, dryRun: request.dryRun });
      });
      if (!request.dryRun) {
        log(`blitd: removed ${removed} entries at ${exported.label}:/${request.path}`);
      }
      return removedToWire(removed);
    }),
    completePath: unary("complete", async (request, cancelled) => {
      const limit = clamp(request.limit, ADMIN_LIMITS.completions);
      const prefix = request.prefix;
      const slash = prefix.indexOf("/");
      if (slash < 0) {
        const names = config.modules.map((m) => m.name)
          .filter((name) => name.startsWith(prefix)).sort().slice(0, limit)
          .map((name) => `${name}/`);
        return candidatesToWire(names);
      }
      // "/path" completes in the default root (the text after "host:/" of "host://path").
      const module = prefix.slice(0, slash);
      const rest = prefix.slice(slash + 1);
      const exported = lookupModule(config, module);
      const tree = openTree(exported, "complete");
      const cut = rest.lastIndexOf("/");
      const dir = cut < 0 ? "" : rest.slice(0, cut);
      const partial = rest.slice(cut + 1);
      const budget = new AdminBudget(
        `complete in ${exported.label}`,
        ADMIN_LIMITS.unaryMs,
        cancelled,
      );
      const found = await guarded(
        exported,
        "complete",
        dir,
        () => completeEntries(tree, dir, partial, { budget, dirsOnly: request.dirsOnly, limit }),
      );
      return candidatesToWire(found.map((candidate) => `${module}/${candidate}`));
    }),
  };
}
