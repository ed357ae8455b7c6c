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
  type ServerFrame,
  ServerFrameSchema,
} from "../proto/gen/blit_pb.ts";
import type { DaemonConfig } from "../core/config.ts";
import {
  type ExportedModule,
  lookupModule,
  ModuleUnknownError,
  TransferRefusal,
} from "../core/endpoint.ts";
import { describeError } from "../core/errors.ts";
import { hashFileWasm } from "../core/hash.ts";
import { PathEscapeError, PathInvalidError } from "../core/paths.ts";
import { askPeerConsent, DestinationRole } from "../core/session/destination.ts";
import { ChangeGate } from "../core/session/plan.ts";
import { SourceRole } from "../core/session/source.ts";
import { openFromWire, type OpenRequest } from "../core/session/wire.ts";
import { compileFilter } from "../core/filter.ts";
import { TransferStats } from "../core/stats.ts";
import type { Tree } from "../core/tree.ts";
import { ContainedTree } from "../core/contained_tree.ts";
import {
  type DataPlaneListener,
  type DataPlaneSession,
  type PayloadSink,
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

/** Refuses what the module's access rules forbid. */
function checkAccess(module: ExportedModule, request: OpenRequest): void {
  const push = request.daemonRole === "destination";
  const writes = push || request.terms.operation === "move";
  if (writes && module.readOnly) {
    throw new Refusal(
      RefuseCode.READ_ONLY,
      `Cannot ${push ? "write to" : "move from"} ${module.label}: it is read-only`,
    );
  }
}

/** What the handshake settled: the request, the module's tree and where in it. */
interface SessionPlace {
  request: OpenRequest;
  module: ExportedModule;
  tree: Tree;
  base: string;
  slash: boolean;
}

/** Looks up the module, checks access, and opens its tree. */
function placeSession(open: Open, context: TransferRpcContext): SessionPlace {
  let request: OpenRequest;
  try {
    request = openFromWire(open);
  } catch (error) {
    throw new Refusal(RefuseCode.BAD_REQUEST, describeError(error));
  }
  let module: ExportedModule;
  try {
    module = lookupModule(context.config, request.module);
  } catch (error) {
    if (error instanceof ModuleUnknownError) {
      throw new Refusal(RefuseCode.MODULE_UNKNOWN, error.message);
    }
    throw error;
  }
  checkAccess(module, request);
  const openTree = context.openTree ?? ((path) => ContainedTree.open(path, { symlinks: false }));
  let tree: Tree;
  try {
    tree = openTree(module.path);
  } catch (error) {
    throw new Refusal(RefuseCode.INTERNAL, `Cannot open ${module.label}: ${describeError(error)}`);
  }
  const slash = request.path.endsWith("/");
  return { request, module, tree, base: request.path.replace(/\/+$/, ""), slash };
}

/** Accepts the client's data-plane connections of one session (none: it fell back). */
function dataConnections(session: DataPlaneSession | null): () => Promise<Deno.Conn[]> {
  return async () => {
    const conns: Deno.Conn[] = [];
    if (!session) return conns;
    try {
      for (let i = 0; i < DATA_STREAMS; i++) {
        const conn = await session.accept(DATA_ACCEPT_TIMEOUT_MS);
        if (!conn) break;
        conns.push(conn);
      }
    } catch {
      // No (more) connections: the client fell back to the control stream.
    }
    return conns;
  };
}

/**
 * Builds this side's role and checks the path it names before anything is accepted (a missing
 * or escaping source, an escaping destination): those are refusals, not session errors.
 */
function makeRole(
  port: GrpcFramePort<ClientFrame>,
  place: SessionPlace,
  session: DataPlaneSession | null,
): () => Promise<unknown> {
  const { request, module, tree, base, slash } = place;
  const { terms } = request;
  let filter;
  try {
    filter = compileFilter(request.filters);
  } catch (error) {
    throw new Refusal(RefuseCode.BAD_REQUEST, describeError(error));
  }
  const named = `${module.name}:/${request.path}`;
  const common = {
    terms,
    filter,
    tree,
    base,
    stats: new TransferStats(),
    hasher: hashFileWasm,
    gate: new ChangeGate(terms.dryRun),
  };
  const accept = dataConnections(session);
  if (request.daemonRole === "source") {
    const role = new SourceRole(port, {
      ...common,
      texts: { source: named, destination: "the client" },
      contentsOnly: slash || base === "",
      rootName: module.name,
      keepRoot: base === "",
      payload: { kind: "wire", open: accept, send: (conn, items) => sendPayloads(conn, items) },
    });
    try {
      role.resolve();
    } catch (error) {
      throw pathRefusal(error);
    }
    return () => role.run();
  }
  try {
    tree.probe(base);
  } catch (error) {
    throw pathRefusal(error);
  }
  {
    const data = session && {
      open: accept,
      receive: (conn: Deno.Conn, sink: PayloadSink) => receivePayloads(conn, sink),
      abandon: () => session.close(),
    };
    const role = new DestinationRole(port, {
      ...common,
      texts: { source: "the client's source", destination: named },
      trailingSlash: slash,
      consent: askPeerConsent(port),
      payload: { kind: "wire", data },
    });
    return () => role.run();
  }
}

/**
 * Handles one `Transfer` call: handshake, placement and access, then this side's role.
 *
 * @param call The server side of the bidirectional stream.
 * @param context Configuration, data plane and logger.
 */
export async function handleTransfer(
  call: grpc.ServerDuplexStream<ClientFrame, ServerFrame>,
  context: TransferRpcContext,
): Promise<void> {
  const port = grpcFramePort<ServerFrame, ClientFrame>(call, ServerFrameSchema);
  const { dataPlane, config } = context;
  let session: DataPlaneSession | null = null;
  const peer = call.getPeer();
  try {
    const place = placeSession(await readOpen(port), context);
    const forceGrpc = place.request.forceGrpc || config.forceGrpcData;
    if (!forceGrpc && dataPlane) session = dataPlane.openSession();
    const run = makeRole(port, place, session);
    await port.sendRaw({
      case: "accept",
      value: {
        protocolVersion: PROTOCOL_VERSION,
        dataPort: session && dataPlane ? dataPlane.port : 0,
        sessionToken: session ? session.token : new Uint8Array(0),
        motd: config.motd,
        dataStreams: session ? DATA_STREAMS : 0,
      },
    });
    const { daemonRole, terms } = place.request;
    const direction = daemonRole === "source" ? "pull from" : "push to";
    context.log(`${peer}: ${terms.operation} ${direction} ${place.module.name}:/${place.base}`);
    await run();
  } catch (error) {
    if (error instanceof Refusal) {
      const { code, message, reason, subject } = error;
      await port.sendRaw({ case: "refuse", value: { code, message, reason, subject } })
        .catch(() => {});
      context.log(`${peer}: refused: ${error.message}`);
    } else {
      // The role already told the client why (an abort frame).
      context.log(`${peer}: session failed: ${describeError(error)}`);
    }
  } finally {
    session?.close();
    port.close();
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
