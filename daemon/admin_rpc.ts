/**
 * The daemon's admin RPCs: `ListDir`, `Find`, `DiskUsage`, `DiskFree`, `Remove` and
 * `CompletePath`, as thin adapters over the operations of `core/admin/`.
 *
 * Each handler decodes the request, looks the module up ({@linkcode lookupModule}), opens it as
 * a {@linkcode ContainedTree} (every path confined to the module, errors worded with
 * module-relative paths), runs one operation under an {@linkcode AdminBudget}, and encodes the
 * answer. Failures become one-line gRPC errors: an {@linkcode AdminError}'s code is mapped to a
 * gRPC status here, and only here; its text names paths relative to the export, never the
 * daemon's absolute ones (the daemon's log keeps the full text). Streamed answers end with the
 * `blit-truncated` and `blit-errors` trailers.
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
import { create } from "@bufbuild/protobuf";
import {
  ChallengeResponseSchema,
  ListModulesResponseSchema,
  ModuleInfoSchema,
} from "../proto/gen/blit_pb.ts";
import { type AuthProof, proofFromWire } from "../core/auth.ts";
import type { DaemonConfig } from "../core/config.ts";
import type { ExportedModule } from "../core/endpoint.ts";
import { AccessDeniedError, type Authority } from "./authority.ts";
import type { AuditEntry, AuditLog } from "./audit_log.ts";
import { ContainedTree } from "../core/contained_tree.ts";
import { hideRoots } from "../core/hide_roots.ts";
import {
  candidatesToWire,
  ERRORS_TRAILER,
  findScopeFromWire,
  foundEntryToWire,
  listingToWire,
  PROOF_METADATA,
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
  /** Who may do what. */
  authority: Authority;
  /** Where calls are recorded. */
  audit: AuditLog;
  /** Told when a connection completed its hello (it is then off the hello deadline). */
  helloDone?: (peer: string) => void;
}

/** The admin RPC handlers of {@linkcode BlitServer}. */
export type AdminHandlers = Pick<
  BlitServer,
  | "listModules"
  | "listDir"
  | "find"
  | "diskUsage"
  | "diskFree"
  | "remove"
  | "completePath"
  | "challenge"
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

/** The proof in an admin call's metadata, or `null` when it has none (anonymous). */
function proofOfCall(metadata: grpc.Metadata): { proof: AuthProof; nonce: Uint8Array } | null {
  const user = metadata.get(PROOF_METADATA.user)[0];
  const key = metadata.get(PROOF_METADATA.publicKey)[0];
  const nonce = metadata.get(PROOF_METADATA.nonce)[0];
  const signature = metadata.get(PROOF_METADATA.signature)[0];
  const bytes = (value: unknown): Uint8Array =>
    value instanceof Uint8Array ? new Uint8Array(value) : new Uint8Array(0);
  const proof = proofFromWire({
    user: user === undefined ? "" : typeof user === "string" ? user : "?",
    publicKey: bytes(key),
    signature: bytes(signature),
  });
  return proof === null ? null : { proof, nonce: bytes(nonce) };
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

/** What one admin call asks for. */
interface CallScope<Req> {
  /** The operation's name in messages (`list`, `remove`, …). */
  action: string;
  /** Its name in the audit log (`ls`, `rm`, …). */
  operation: string;
  /** The module it concerns (`null`: none, e.g. listing modules). */
  module: (request: Req) => string | null;
  /** The path it concerns. */
  path: (request: Req) => string;
  /** What it needs of the module. */
  needs: "read" | "write";
}

/** An admitted admin call. */
interface Admitted {
  /** The authenticated user, or `null`. */
  user: string | null;
  /** The module, or `null` when the call concerns none. */
  exported: ExportedModule | null;
  /** Sets the audit entry's counts. */
  count: (files: number) => void;
}

/**
 * Builds the admin handlers of the daemon.
 *
 * @param context Configuration, access, logs.
 * @returns The handlers, to spread into the server's {@linkcode BlitServer}.
 */
export function createAdminHandlers(context: AdminRpcContext): AdminHandlers {
  const { config, log, authority, audit } = context;
  const exportPaths = [
    ...config.modules.map((m) => m.path),
    ...(config.root === null ? [] : [config.root]),
  ];
  // What a client reads names paths relative to an export, never the daemon's absolute ones.
  const hide = hideRoots([...exportPaths].sort((a, b) => b.length - a.length));
  const report = (peer: string, error: AdminError): void => {
    if (error.code === "internal" || error.code === "unavailable") {
      log(`blitd: ${peer}: ${error.message}`);
    }
  };
  /** Authenticates and authorizes a call, and opens its audit entry. */
  const admit = async <Req>(
    call: grpc.ServerUnaryCall<Req, unknown> | grpc.ServerWritableStream<Req, unknown>,
    scope: CallScope<Req>,
    entry: AuditEntry,
  ): Promise<Admitted> => {
    const peer = call.getPeer();
    const module = scope.module(call.request);
    Object.assign(entry, { module: module ?? "", path: scope.path(call.request) });
    const claimed = proofOfCall(call.metadata);
    if (claimed !== null && !authority.nonces.consume(claimed.nonce)) {
      // A replayed or made-up nonce: the proof cannot be good.
      claimed.proof.signature = new Uint8Array(64);
    }
    const request = {
      peer,
      proof: claimed?.proof ?? null,
      nonce: claimed?.nonce ?? new Uint8Array(0),
      purpose: "admin" as const,
      method: scope.operation,
    };
    let admitted: Admitted;
    const count = (files: number): void => {
      entry.files = files;
    };
    if (module === null) {
      const user = await authority.authenticate(request);
      admitted = { user, exported: null, count };
    } else {
      const admission = await authority.admit({ ...request, module, needs: scope.needs });
      admitted = { user: admission.user, exported: admission.exported, count };
    }
    entry.user = admitted.user;
    context.helloDone?.(peer);
    return admitted;
  };
  const failure = (peer: string, name: string, error: unknown, entry: AuditEntry): AdminError => {
    if (error instanceof AccessDeniedError) {
      entry.outcome = "refused";
      entry.error = `${error.message} (${error.why})`;
      return new AdminError("permission", error.message);
    }
    const typed = toAdminError(error, name, "", "the request");
    entry.error = typed.message;
    report(peer, typed);
    const shown = hide(typed.message);
    return shown === typed.message ? typed : new AdminError(typed.code, shown);
  };
  const newEntry = (peer: string, operation: string): AuditEntry => ({
    peer,
    user: null,
    module: "",
    operation,
    path: "",
    files: 0,
    bytes: 0,
    outcome: "failed",
    durationMs: 0,
    error: null,
  });
  const unary = <Req, Res>(
    scope: CallScope<Req>,
    run: (request: Req, admitted: Admitted, cancelled: () => boolean) => Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> =>
  (call, callback) => {
    const started = performance.now();
    const entry = newEntry(call.getPeer(), scope.operation);
    admit(call, scope, entry)
      .then((admitted) => run(call.request, admitted, () => call.cancelled))
      .then(
        (response) => {
          entry.outcome = "ok";
          callback(null, response);
        },
        (error) => callback(grpcErrorOf(failure(call.getPeer(), scope.action, error, entry)), null),
      )
      .finally(() => {
        entry.durationMs = performance.now() - started;
        audit.record(entry);
      });
  };
  const stream = <Req, Res>(
    scope: CallScope<Req>,
    run: (
      request: Req,
      admitted: Admitted,
      call: grpc.ServerWritableStream<Req, Res>,
    ) => Promise<StreamEnd>,
  ): grpc.handleServerStreamingCall<Req, Res> =>
  (call) => {
    const started = performance.now();
    const entry = newEntry(call.getPeer(), scope.operation);
    admit(call, scope, entry)
      .then((admitted) => run(call.request, admitted, call))
      .then(
        (end) => {
          entry.outcome = end.errors > 0 || end.truncated ? "partial" : "ok";
          const trailer = new grpc.Metadata();
          if (end.truncated) trailer.set(TRUNCATED_TRAILER, "true");
          if (end.errors > 0) trailer.set(ERRORS_TRAILER, String(end.errors));
          call.end(trailer);
        },
        (error) => {
          call.emit("error", grpcErrorOf(failure(call.getPeer(), scope.action, error, entry)));
        },
      )
      .finally(() => {
        entry.durationMs = performance.now() - started;
        audit.record(entry);
      });
  };
  const inModule = <Req extends { module: string; path: string }>(
    action: string,
    operation: string,
    needs: "read" | "write" = "read",
  ): CallScope<Req> => ({
    action,
    operation,
    module: (request) => request.module,
    path: (request) => request.path,
    needs,
  });
  const exportedOf = (admitted: Admitted): ExportedModule => admitted.exported as ExportedModule;

  return {
    challenge: (_call, callback) => {
      callback(
        null,
        create(ChallengeResponseSchema, {
          nonce: authority.nonces.issue(),
          tlsFingerprint: authority.fingerprint,
        }),
      );
    },
    listModules: unary({
      action: "list modules",
      operation: "modules",
      module: () => null,
      path: () => "",
      needs: "read",
    }, (_request, admitted) => {
      const modules = authority.visibleModules(admitted.user).map(({ module, access }) =>
        create(ModuleInfoSchema, {
          name: module.name,
          readOnly: access !== "write",
          comment: module.comment,
        })
      );
      admitted.count(modules.length);
      return Promise.resolve(create(ListModulesResponseSchema, { modules, motd: config.motd }));
    }),
    listDir: unary(inModule("list", "ls"), async (request, admitted, cancelled) => {
      const exported = exportedOf(admitted);
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
    find: stream(inModule("search", "find"), async (request, admitted, call) => {
      const exported = exportedOf(admitted);
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
    diskUsage: stream(inModule("total", "du"), async (request, admitted, call) => {
      const exported = exportedOf(admitted);
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
    diskFree: unary({
      action: "measure",
      operation: "df",
      module: (request) => request.module,
      path: () => "",
      needs: "read",
    }, async (_request, admitted) => {
      const exported = exportedOf(admitted);
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
    remove: unary(inModule("remove", "rm", "write"), async (request, admitted, cancelled) => {
      const exported = exportedOf(admitted);
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
      if (!request.dryRun) admitted.count(removed);
      return removedToWire(removed);
    }),
    completePath: unary({
      action: "complete",
      operation: "complete",
      module: (request) => {
        const slash = request.prefix.indexOf("/");
        return slash < 0 ? null : request.prefix.slice(0, slash);
      },
      path: (request) => request.prefix,
      needs: "read",
    }, async (request, admitted, cancelled) => {
      const limit = clamp(request.limit, ADMIN_LIMITS.completions);
      const prefix = request.prefix;
      const slash = prefix.indexOf("/");
      if (slash < 0) {
        const names = authority.visibleModules(admitted.user).map(({ module }) => module.name)
          .filter((name) => name.startsWith(prefix)).sort().slice(0, limit)
          .map((name) => `${name}/`);
        return candidatesToWire(names);
      }
      // "/path" completes in the default root (the text after "host:/" of "host://path").
      const module = prefix.slice(0, slash);
      const rest = prefix.slice(slash + 1);
      const exported = exportedOf(admitted);
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
