/**
 * The daemon's `Transfer` RPC: handshake, module lookup and path checks, then the same SOURCE or
 * DESTINATION role the CLI runs, confined to the module through `core/paths.ts`.
 *
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import {
  type ClientFrame,
  EntryKind as WireKind,
  type Open,
  RefuseCode,
  Role,
  type ServerFrame,
  ServerFrameSchema,
} from "../proto/gen/blit_pb.ts";
import type { DaemonConfig } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import { compileFilter, type FilterRule } from "../core/filter.ts";
import { hashFileWasm } from "../core/hash.ts";
import { ContainedRoot, PathEscapeError, validateWirePath } from "../core/paths.ts";
import { LocalDestination } from "../core/session/destination.ts";
import { runDestinationRole } from "../core/session/destination_role.ts";
import { runSourceRole } from "../core/session/source_role.ts";
import { compareFromWire, operationFromWire } from "../core/session/wire.ts";
import { TransferStats } from "../core/stats.ts";
import type { DataPlaneListener, DataPlaneSession } from "../core/transport/data_plane.ts";
import { PROTOCOL_VERSION } from "../core/transport/grpc_service.ts";
import { grpcFramePort } from "../core/transport/grpc_port.ts";
import { statEntry } from "../core/walk.ts";

/** What the transfer service needs from the server. */
export interface TransferServiceContext {
  /** The resolved configuration. */
  config: DaemonConfig;
  /** The data-plane listener, or `null` when payload always travels in the control stream. */
  dataPlane: DataPlaneListener | null;
  /** Writes one log line. */
  log: (line: string) => void;
  /**
   * Opens a module root for confined access. Always `ContainedRoot.open` in the daemon; tests
   * replace it with an unconfined guard to prove the OS permission layer holds on its own.
   */
  openRoot?: (path: string) => Promise<RootGuard>;
}

/** The confined filesystem view of one export that every daemon filesystem call goes through. */
export type RootGuard = Pick<
  ContainedRoot,
  | "path"
  | "resolveExistingSync"
  | "resolveExistingFollowSync"
  | "mkdirContainedSync"
  | "resolveForCreateSync"
>;

/** Parallel data-plane connections granted per session. */
export const DATA_STREAMS = 2;

/** How long the daemon waits for the client's data-plane connections before falling back. */
export const DATA_ACCEPT_TIMEOUT_MS = 3_000;

class Refusal extends Error {
  readonly code: RefuseCode;
  constructor(code: RefuseCode, message: string) {
    super(message);
    this.code = code;
  }
}

interface Export {
  name: string;
  path: string;
  readOnly: boolean;
}

function findExport(config: DaemonConfig, module: string): Export {
  if (module === "") {
    if (config.root === null) {
      throw new Refusal(
        RefuseCode.MODULE_UNKNOWN,
        "Cannot open the default root: none is exported",
      );
    }
    return { name: "", path: config.root, readOnly: config.rootReadOnly };
  }
  const found = config.modules.find((m) => m.name === module);
  if (!found) {
    throw new Refusal(
      RefuseCode.MODULE_UNKNOWN,
      `Cannot open module "${module}": no such module (see "blit list HOST")`,
    );
  }
  return { name: found.name, path: found.path, readOnly: found.readOnly };
}

function wirePath(text: string): { path: string; slash: boolean } {
  const slash = text.endsWith("/");
  return { path: text.replace(/\/+$/, ""), slash };
}

function filtersOf(open: Open): FilterRule[] {
  if (open.filterRules.length > 0) {
    return open.filterRules.map((rule) => {
      const match = /^([+-]) (.+)$/.exec(rule);
      if (!match) {
        throw new Error(`Cannot use filter rule "${rule}": expected "+ GLOB" or "- GLOB"`);
      }
      return { action: match[1] === "+" ? "include" : "exclude", pattern: match[2] as string };
    });
  }
  const rules: FilterRule[] = [];
  for (const pattern of open.includes) rules.push({ action: "include", pattern });
  for (const pattern of open.excludes) rules.push({ action: "exclude", pattern });
  return rules;
}

function join(a: string, b: string): string {
  return a === "" ? b : b === "" ? a : `${a}/${b}`;
}

/**
 * Handles one `Transfer` call.
 *
 * @param call The server side of the bidirectional stream.
 * @param context Configuration, data plane and logger.
 */
export async function handleTransfer(
  call: grpc.ServerDuplexStream<ClientFrame, ServerFrame>,
  context: TransferServiceContext,
): Promise<void> {
  const port = grpcFramePort<ServerFrame, ClientFrame>(call, ServerFrameSchema);
  let session: DataPlaneSession | null = null;
  const peer = call.getPeer();
  try {
    const hello = await port.nextRaw(10_000);
    if (hello?.case !== "hello") {
      throw new Refusal(RefuseCode.BAD_REQUEST, "Cannot start: expected Hello");
    }
    if (hello.value.protocolVersion !== PROTOCOL_VERSION) {
      throw new Refusal(
        RefuseCode.VERSION_MISMATCH,
        `Cannot talk protocol ${hello.value.protocolVersion}: this daemon speaks ${PROTOCOL_VERSION}; upgrade the older side`,
      );
    }
    const openFrame = await port.nextRaw(10_000);
    if (openFrame?.case !== "open") {
      throw new Refusal(RefuseCode.BAD_REQUEST, "Cannot start: expected Open");
    }
    const open = openFrame.value;
    const operation = operationFromWire(open.operation);
    if (!operation) throw new Refusal(RefuseCode.BAD_REQUEST, "Cannot start: no operation given");
    const exported = findExport(context.config, open.module);
    const { path, slash } = wirePath(open.path);
    const writes = open.role === Role.DESTINATION ||
      (open.role === Role.SOURCE && operation === "move");
    if (writes && exported.readOnly) {
      throw new Refusal(
        RefuseCode.READ_ONLY,
        `Cannot ${
          open.role === Role.DESTINATION ? "write to" : "move from"
        } module "${exported.name}": it is read-only`,
      );
    }
    const root = await (context.openRoot ?? ContainedRoot.open)(exported.path);
    let filter;
    try {
      filter = compileFilter(filtersOf(open));
    } catch (error) {
      throw new Refusal(RefuseCode.BAD_REQUEST, describeError(error));
    }
    const stats = new TransferStats();
    const forceGrpc = open.forceGrpcData || context.config.forceGrpcData || !context.dataPlane;
    if (!forceGrpc && context.dataPlane) session = context.dataPlane.openSession();
    const dataSession = session;
    const acceptConns = dataSession
      ? async (): Promise<Deno.Conn[]> => {
        const conns: Deno.Conn[] = [];
        try {
          for (let i = 0; i < DATA_STREAMS; i++) {
            const conn = await dataSession.accept(DATA_ACCEPT_TIMEOUT_MS);
            if (!conn) break;
            conns.push(conn);
          }
        } catch {
          // No (more) connections: the client fell back to the control stream.
        }
        return conns;
      }
      : null;
    const accept = (extra: { sourceKind?: WireKind; sourceName?: string }) =>
      port.sendRaw({
        case: "accept",
        value: {
          $typeName: "blit.v1.Accept",
          protocolVersion: PROTOCOL_VERSION,
          dataPort: dataSession ? context.dataPlane?.port ?? 0 : 0,
          sessionToken: dataSession ? dataSession.token : new Uint8Array(0),
          motd: context.config.motd,
          dataStreams: dataSession ? DATA_STREAMS : 0,
          sourceKind: extra.sourceKind ?? WireKind.UNSPECIFIED,
          sourceName: extra.sourceName ?? "",
        },
      });

    if (open.role === Role.SOURCE) {
      let abs: string;
      try {
        abs = path === "" ? root.path : root.resolveExistingSync(path);
        Deno.lstatSync(abs);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          throw new Refusal(
            RefuseCode.PATH_NOT_FOUND,
            `Cannot find "${open.path}" in module "${exported.name}"`,
          );
        }
        throw new Refusal(RefuseCode.PATH_INVALID, describeError(error));
      }
      const rootEntry = statEntry(abs, "");
      if (slash && rootEntry.kind !== "dir") {
        throw new Refusal(
          RefuseCode.PATH_INVALID,
          `Cannot copy the contents of "${open.path}": not a directory`,
        );
      }
      await accept({
        sourceKind: rootEntry.kind === "dir"
          ? WireKind.DIR
          : rootEntry.kind === "file"
          ? WireKind.FILE
          : WireKind.SYMLINK,
        sourceName: path.slice(path.lastIndexOf("/") + 1),
      });
      context.log(`${peer}: ${operation} pull from ${exported.name}:/${path}`);
      await runSourceRole(port, {
        root: abs,
        filter,
        move: operation === "move",
        keepRoot: slash || path === "",
        dryRun: open.dryRun,
        stats,
        hasher: hashFileWasm,
        openData: acceptConns,
        checkPath: (rel) => {
          root.resolveExistingFollowSync(join(path, rel));
        },
      });
    } else if (open.role === Role.DESTINATION) {
      const sourceIsDir = open.sourceKind === WireKind.DIR;
      let target = path;
      if (!(sourceIsDir && open.sourceTrailingSlash)) {
        let isDir = false;
        try {
          isDir = path === "" || Deno.lstatSync(root.resolveExistingFollowSync(path)).isDirectory;
        } catch { /* missing: the exact target */ }
        if (slash || isDir) {
          try {
            if (validateWirePath(open.sourceName).length !== 1) throw new Error("not one name");
          } catch {
            throw new Refusal(
              RefuseCode.BAD_REQUEST,
              `Cannot use source name "${open.sourceName}"`,
            );
          }
          target = join(path, open.sourceName);
        }
      }
      if (target === "" && !sourceIsDir) {
        throw new Refusal(
          RefuseCode.PATH_INVALID,
          "Cannot write a file onto the module root: name a file path",
        );
      }
      const parent = target.includes("/") ? target.slice(0, target.lastIndexOf("/")) : "";
      try {
        if (parent !== "" && !open.dryRun) root.mkdirContainedSync(parent);
        root.resolveForCreateSync(target || ".".slice(1));
      } catch (error) {
        throw new Refusal(RefuseCode.PATH_INVALID, describeError(error));
      }
      await accept({});
      context.log(`${peer}: ${operation} push to ${exported.name}:/${target}`);
      const dest = new LocalDestination({
        root: target === "" ? root.path : `${root.path}/${target}`,
        compare: compareFromWire(open.compare),
        ignoreExisting: open.ignoreExisting,
        mirror: operation === "mirror",
        dryRun: open.dryRun,
        filter,
        stats,
        hashDestination: hashFileWasm,
        hashSource: () => Promise.reject(new Error("Cannot hash the source on the destination")),
        symlinks: false,
        resolvePath: (rel) => {
          const full = join(target, rel);
          return full === "" ? root.path : root.resolveForCreateSync(full);
        },
      });
      await runDestinationRole(port, {
        operation,
        dest,
        stats,
        dryRun: open.dryRun,
        confirmDeletions: () => Promise.resolve(open.allowDelete),
        openData: acceptConns,
        abandonData: () => dataSession?.close(),
      });
    } else {
      throw new Refusal(RefuseCode.BAD_REQUEST, "Cannot start: no role given");
    }
    call.end();
  } catch (error) {
    if (error instanceof Refusal) {
      await port.sendRaw({
        case: "refuse",
        value: { $typeName: "blit.v1.Refuse", code: error.code, message: error.message },
      }).catch(() => {});
      context.log(`${peer}: refused: ${error.message}`);
    } else {
      const message = error instanceof PathEscapeError
        ? `Cannot use a path that leaves the module: ${describeError(error)}`
        : describeError(error);
      await port.sendRaw({
        case: "error",
        value: { $typeName: "blit.v1.Error", code: 1, message },
      }).catch(() => {});
      context.log(`${peer}: session failed: ${message}`);
    }
    try {
      call.end();
    } catch { /* already closed */ }
  } finally {
    session?.close();
  }
}
