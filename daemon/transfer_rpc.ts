/**
 * The daemon's `Transfer` RPC: the handshake (Hello, Open → Accept or Refuse), then the same
 * SOURCE or DESTINATION role the CLI runs, over the module's contained tree. It decodes, looks
 * up, checks access, and hands over to core; it makes no filesystem call of its own.
 *
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import {
  type ClientFrame,
  type Open,
  RefuseCode,
  Role,
  type ServerFrame,
  ServerFrameSchema,
} from "../proto/gen/blit_pb.ts";
import type { DaemonConfig } from "../core/config.ts";
import {
  type EndpointTexts,
  type ExportedModule,
  lookupModule,
  ModuleUnknownError,
  TransferRefusal,
} from "../core/endpoint.ts";
import { describeError } from "../core/errors.ts";
import type { FilterRule } from "../core/filter.ts";
import { hashFileWasm } from "../core/hash.ts";
import { PathEscapeError, PathInvalidError } from "../core/paths.ts";
import { askPeerConsent, DestinationRole } from "../core/session/destination.ts";
import type { SessionTerms } from "../core/session/frames.ts";
import { ChangeGate } from "../core/session/plan.ts";
import { SourceRole } from "../core/session/source.ts";
import { compareFromWire, operationFromWire } from "../core/session/wire.ts";
import { compileFilter } from "../core/filter.ts";
import { TransferStats } from "../core/stats.ts";
import { ContainedTree, type Tree } from "../core/tree.ts";
import {
  type DataPlaneListener,
  type DataPlaneSession,
  receivePayloads,
  sendPayloads,
} from "../core/transport/data_plane.ts";
import { PROTOCOL_VERSION } from "../core/transport/grpc_service.ts";
import { type GrpcFramePort, grpcFramePort } from "../core/transport/grpc_port.ts";

/** What the transfer RPC needs from the server. */
export interface TransferRpcContext {
  /** The resolved configuration. */
  config: DaemonConfig;
  /** The data-plane listener, or `null` when payload always travels in the control stream. */
  dataPlane: DataPlaneListener | null;
  /** Writes one log line. */
  log: (line: string) => void;
  /**
   * Opens a module's tree. Always a {@linkcode ContainedTree} in the daemon; a test build
   * replaces it with an unchecked tree to prove that the OS permission layer holds on its own.
   */
  openTree?: (path: string) => Tree;
}

/** Parallel data-plane connections granted per session. */
export const DATA_STREAMS = 2;

/** How long the daemon waits for the client's data-plane connections before falling back. */
export const DATA_ACCEPT_TIMEOUT_MS = 3_000;

/** Longest wait for the client's Hello and Open. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** A refusal of the Open, sent as a Refuse frame. */
class Refusal extends Error {
  readonly code: RefuseCode;
  readonly reason: string;
  readonly subject: string;
  constructor(code: RefuseCode, message: string, reason = "", subject = "") {
    super(message);
    this.code = code;
    this.reason = reason;
    this.subject = subject;
  }
}

/** A refusal for an error met while resolving a path the client named. */
function pathRefusal(error: unknown): Refusal {
  if (error instanceof Refusal) return error;
  if (error instanceof TransferRefusal) {
    const code = error.reason === "source-missing"
      ? RefuseCode.PATH_NOT_FOUND
      : RefuseCode.PATH_INVALID;
    return new Refusal(code, error.message, error.reason, error.detail);
  }
  if (error instanceof PathEscapeError || error instanceof PathInvalidError) {
    return new Refusal(RefuseCode.PATH_INVALID, error.message);
  }
  return new Refusal(RefuseCode.PATH_INVALID, describeError(error));
}

function filtersOf(open: Open): FilterRule[] {
  return open.filterRules.map((rule) => {
    const match = /^([+-]) (.+)$/.exec(rule);
    if (!match) {
      throw new Refusal(
        RefuseCode.BAD_REQUEST,
        `Cannot use filter rule "${rule}": expected "+ GLOB" or "- GLOB"`,
      );
    }
    return { action: match[1] === "+" ? "include" : "exclude", pattern: match[2] as string };
  });
}

/** The terms of the Open, checked. */
function termsOf(open: Open): SessionTerms {
  const operation = operationFromWire(open.operation);
  if (!operation) throw new Refusal(RefuseCode.BAD_REQUEST, "Cannot start: no operation given");
  const maxDelete = open.maxDelete === undefined ? null : Number(open.maxDelete);
  return {
    operation,
    compare: compareFromWire(open.compare),
    ignoreExisting: open.ignoreExisting,
    dryRun: open.dryRun,
    maxDelete: maxDelete !== null && maxDelete > Number.MAX_SAFE_INTEGER ? null : maxDelete,
  };
}

/** Refuses what the module's access rules forbid. */
function checkAccess(module: ExportedModule, open: Open, terms: SessionTerms): void {
  const writes = open.role === Role.DESTINATION ||
    (open.role === Role.SOURCE && terms.operation === "move");
  if (writes && module.readOnly) {
    throw new Refusal(
      RefuseCode.READ_ONLY,
      `Cannot ${
        open.role === Role.DESTINATION ? "write to" : "move from"
      } ${module.label}: it is read-only`,
    );
  }
}

/**
 * Handles one `Transfer` call.
 *
 * @param call The server side of the bidirectional stream.
 * @param context Configuration, data plane and logger.
 */
export async function handleTransfer(
  call: grpc.ServerDuplexStream<ClientFrame, ServerFrame>,
  context: TransferRpcContext,
): Promise<void> {
  const port = grpcFramePort<ServerFrame, ClientFrame>(call, ServerFrameSchema);
  let session: DataPlaneSession | null = null;
  const peer = call.getPeer();
  try {
    const open = await readOpen(port);
    const terms = termsOf(open);
    let module: ExportedModule;
    try {
      module = lookupModule(context.config, open.module);
    } catch (error) {
      if (error instanceof ModuleUnknownError) {
        throw new Refusal(RefuseCode.MODULE_UNKNOWN, error.message);
      }
      throw error;
    }
    checkAccess(module, open, terms);
    const slash = open.path.endsWith("/");
    const base = open.path.replace(/\/+$/, "");
    const texts: EndpointTexts = {
      source: open.role === Role.SOURCE ? `${module.name}:/${open.path}` : "the client's source",
      destination: open.role === Role.DESTINATION ? `${module.name}:/${open.path}` : "the client",
    };
    let tree: Tree;
    try {
      tree = (context.openTree ?? ((path) => ContainedTree.open(path, { symlinks: false })))(
        module.path,
      );
    } catch (error) {
      throw new Refusal(
        RefuseCode.INTERNAL,
        `Cannot open ${module.label}: ${describeError(error)}`,
      );
    }
    let filter;
    try {
      filter = compileFilter(filtersOf(open));
    } catch (error) {
      throw error instanceof Refusal
        ? error
        : new Refusal(RefuseCode.BAD_REQUEST, describeError(error));
    }
    const forceGrpc = open.forceGrpcData || context.config.forceGrpcData || !context.dataPlane;
    if (!forceGrpc && context.dataPlane) session = context.dataPlane.openSession();
    const dataSession = session;
    const acceptConns = async (): Promise<Deno.Conn[]> => {
      const conns: Deno.Conn[] = [];
      if (!dataSession) return conns;
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
    };
    const common = {
      terms,
      filter,
      tree,
      base,
      texts,
      stats: new TransferStats(),
      hasher: hashFileWasm,
      gate: new ChangeGate(terms.dryRun),
    };
    let run: () => Promise<unknown>;
    if (open.role === Role.SOURCE) {
      const role = new SourceRole(port, {
        ...common,
        contentsOnly: slash || base === "",
        rootName: module.name,
        keepRoot: base === "",
        payload: {
          kind: "wire",
          open: acceptConns,
          send: (conn, items) => sendPayloads(conn, items),
        },
      });
      try {
        role.resolve();
      } catch (error) {
        throw pathRefusal(error);
      }
      run = () => role.run();
    } else if (open.role === Role.DESTINATION) {
      try {
        tree.probe(base);
      } catch (error) {
        throw pathRefusal(error);
      }
      const role = new DestinationRole(port, {
        ...common,
        trailingSlash: slash,
        consent: askPeerConsent(port),
        payload: {
          kind: "wire",
          data: dataSession
            ? {
              open: acceptConns,
              receive: (conn, sink) => receivePayloads(conn, sink),
              abandon: () => dataSession.close(),
            }
            : null,
        },
      });
      run = () => role.run();
    } else {
      throw new Refusal(RefuseCode.BAD_REQUEST, "Cannot start: no role given");
    }
    await port.sendRaw({
      case: "accept",
      value: {
        protocolVersion: PROTOCOL_VERSION,
        dataPort: dataSession ? context.dataPlane?.port ?? 0 : 0,
        sessionToken: dataSession ? dataSession.token : new Uint8Array(0),
        motd: context.config.motd,
        dataStreams: dataSession ? DATA_STREAMS : 0,
      },
    });
    context.log(
      `${peer}: ${terms.operation} ${
        open.role === Role.SOURCE ? "pull from" : "push to"
      } ${module.name}:/${base}`,
    );
    await run();
  } catch (error) {
    if (error instanceof Refusal) {
      await port.sendRaw({
        case: "refuse",
        value: {
          code: error.code,
          message: error.message,
          reason: error.reason,
          subject: error.subject,
        },
      }).catch(() => {});
      context.log(`${peer}: refused: ${error.message}`);
    } else {
      // The role already told the client why (an abort frame).
      context.log(`${peer}: session failed: ${describeError(error)}`);
    }
  } finally {
    session?.close();
    try {
      call.end();
    } catch { /* already closed */ }
  }
}

/** Reads Hello and Open, checking the protocol version. */
async function readOpen(port: GrpcFramePort<ClientFrame>): Promise<Open> {
  const hello = await port.nextRaw(HANDSHAKE_TIMEOUT_MS);
  if (hello?.case !== "hello") {
    throw new Refusal(RefuseCode.BAD_REQUEST, "Cannot start: expected Hello");
  }
  if (hello.value.protocolVersion !== PROTOCOL_VERSION) {
    throw new Refusal(
      RefuseCode.VERSION_MISMATCH,
      `Cannot talk protocol ${hello.value.protocolVersion}: this daemon speaks ${PROTOCOL_VERSION}; upgrade the older side`,
    );
  }
  const open = await port.nextRaw(HANDSHAKE_TIMEOUT_MS);
  if (open?.case !== "open") {
    throw new Refusal(RefuseCode.BAD_REQUEST, "Cannot start: expected Open");
  }
  return open.value;
}
