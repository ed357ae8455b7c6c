/**
 * The daemon's transfer sessions (a framed connection on the control port): the handshake
 * (Challenge, Hello, Open → Accept or Refuse), then the same SOURCE or DESTINATION role the CLI
 * runs, over the module's contained tree. It decodes, looks up, checks access, and hands over to
 * core; it makes no filesystem call of its own.
 *
 * @module
 */

import type { ClientFrame, Open, ServerFrame } from "../proto/gen/blit_pb.ts";
import { RefuseCode, SERVER_FRAME_CODEC } from "../core/transport/frame_tables.ts";
import type { DaemonConfig } from "../core/config.ts";
import { type ExportedModule, TransferRefusal } from "../core/endpoint.ts";
import { type AuthProof, NONCE_BYTES, proofFromWire } from "../core/auth.ts";
import { describeError } from "../core/errors.ts";
import { type HideRoots, hideRoots } from "../core/hide_roots.ts";
import { hashFileWasm } from "../core/hash.ts";
import { PathEscapeError, PathInvalidError } from "../core/paths.ts";
import { askPeerConsent, DestinationRole } from "../core/session/destination.ts";
import { ChangeGate } from "../core/session/plan.ts";
import type { RoleOutcome } from "../core/session/role.ts";
import { type SourcePick, SourceRole } from "../core/session/source.ts";
import { openFromWire, type OpenRequest } from "../core/session/wire.ts";
import { redactingPort } from "../core/session/redacting_port.ts";
import { compileFilter } from "../core/filter.ts";
import { TransferStats } from "../core/stats.ts";
import type { Tree } from "../core/tree.ts";
import { ContainedTree } from "../core/contained_tree.ts";
import { SharedCopyPool } from "../core/copy_pool.ts";
import {
  type DataConn,
  type DataPlaneListener,
  type DataPlaneSession,
  type PayloadSink,
  receivePayloads,
  sendPayloads,
} from "../core/transport/data_plane.ts";
import { PROTOCOL_VERSION } from "../core/transport/protocol.ts";
import {
  type DuplexLike,
  type StreamFramePort,
  streamFramePort,
} from "../core/transport/stream_port.ts";
import { InboundBudget } from "../core/transport/inbound_budget.ts";
import { AccessDeniedError, type Authority } from "./authority.ts";
import type { AuditEntry, AuditLog } from "./audit_log.ts";

/** What the transfer RPC needs from the server. */
export interface TransferRpcContext {
  /** The resolved configuration. */
  config: DaemonConfig;
  /** The data-plane listener, or `null` when payload always travels in the control stream. */
  dataPlane: DataPlaneListener | null;
  /** Writes one log line. */
  log: (line: string) => void;
  /** Who may do what. */
  authority: Authority;
  /** Where sessions are recorded. */
  audit: AuditLog;
  /** Told when a connection completed its hello (it is then off the hello deadline). */
  helloDone?: (peer: string) => void;
  /**
   * Opens a module's tree. Always a {@linkcode ContainedTree} in the daemon; a test build
   * replaces it with an unchecked tree to prove that the OS permission layer holds on its own.
   */
  openTree?: (path: string) => Tree;
  /**
   * The server's running sessions: each session registers here (so that a stopping server can
   * wait for it, then cancel it), and none starts once it is closed. Absent: not tracked.
   */
  sessions?: RunningSessions;
}

/** What a client is told when a stopping daemon refuses or cancels its session. */
export const SHUTTING_DOWN_MESSAGE =
  "Cannot finish the transfer: daemon shutting down (blitd was asked to stop); run the " +
  "command again once the daemon is back";

/** How long a cancelled session may take to hear the abort before its streams are closed. */
const CANCEL_LINGER_MS = 1_000;

/**
 * The transfer sessions a server is running. A stopping server closes it (new sessions are
 * refused with {@linkcode SHUTTING_DOWN_MESSAGE}), waits for the running ones with
 * {@linkcode RunningSessions.idle}, and cancels those left with
 * {@linkcode RunningSessions.cancelAll}.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { RunningSessions } from "./transfer_rpc.ts";
 * const sessions = new RunningSessions();
 * const told: string[] = [];
 * const done = sessions.add((message) => told.push(message));
 * sessions.close();
 * strictEqual(await sessions.idle(10), false);
 * strictEqual(sessions.cancelAll("stopping"), 1);
 * done();
 * strictEqual(await sessions.idle(10), true);
 * strictEqual(told[0], "stopping");
 * ```
 */
export class RunningSessions {
  #cancels = new Set<(message: string) => void>();
  #closed = false;
  #waiters = new Set<() => void>();

  /** Sessions running now. */
  get size(): number {
    return this.#cancels.size;
  }

  /** Whether new sessions are refused (the server is stopping). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Registers a running session.
   * @param cancel Cancels it, telling its client `message`.
   * @returns A function to call when the session has ended.
   */
  add(cancel: (message: string) => void): () => void {
    this.#cancels.add(cancel);
    return () => {
      this.#cancels.delete(cancel);
      if (this.#cancels.size === 0) { for (const wake of this.#waiters) wake(); }
    };
  }

  /** Refuses new sessions from now on. */
  close(): void {
    this.#closed = true;
  }

  /**
   * Waits until no session runs, at most `timeoutMs`.
   * @param timeoutMs The longest wait.
   * @returns True when none runs, false when the time ran out first.
   */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.#cancels.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (idle: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(idle);
      };
      const wake = (): void => finish(true);
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /**
   * Cancels every running session.
   * @param message What their clients are told.
   * @returns How many were cancelled.
   */
  cancelAll(message: string): number {
    const cancels = [...this.#cancels];
    for (const cancel of cancels) cancel(message);
    return cancels.length;
  }
}

/** Parallel data-plane connections granted per session. */
export const DATA_STREAMS = 2;

/** How long the daemon waits for the client's data-plane connections before falling back. */
export const DATA_ACCEPT_TIMEOUT_MS = 3_000;

/**
 * Bytes of received control frames all sessions together may queue before their streams stop
 * reading (each session has its own cap as well, `MAX_QUEUED_BYTES` in `stream_port.ts`).
 */
export const DAEMON_INBOUND_BYTES = 256 * 1024 * 1024;

/** The daemon's shared budget for queued control frames (one per process). */
const daemonInbound = new InboundBudget(DAEMON_INBOUND_BYTES);

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
  /** Further sources of a pull in the same module (`Open.more_paths`), merged with the first. */
  more: SourcePick[];
}

/** Decodes the Open into a request. */
function requestOf(open: Open): OpenRequest {
  try {
    return openFromWire(open);
  } catch (error) {
    throw new Refusal(RefuseCode.BAD_REQUEST, describeError(error));
  }
}

/**
 * The proof an Open carries, or `null` for an anonymous one. A malformed one becomes a proof
 * that cannot verify, so that it is refused like a wrong key, after the same delay.
 */
function proofOf(open: Open): AuthProof | null {
  return proofFromWire({ user: open.user, publicKey: open.publicKey, signature: open.signature });
}

/** Checks access for the request and opens the module's tree. */
function placeSession(
  request: OpenRequest,
  module: ExportedModule,
  context: TransferRpcContext,
): SessionPlace {
  checkAccess(module, request);
  const openTree = context.openTree ?? ((path) => ContainedTree.open(path, { symlinks: false }));
  let tree: Tree;
  try {
    tree = openTree(module.path);
  } catch (error) {
    throw new Refusal(RefuseCode.INTERNAL, `Cannot open ${module.label}: ${describeError(error)}`);
  }
  const slash = request.path.endsWith("/");
  const more = request.morePaths ?? [];
  if (more.length > 0 && request.daemonRole !== "source") {
    throw new Refusal(RefuseCode.BAD_REQUEST, "Cannot write to several destinations at once");
  }
  return {
    request,
    module,
    tree,
    base: request.path.replace(/\/+$/, ""),
    slash,
    more: more.map((path) => ({
      base: path.replace(/\/+$/, ""),
      contentsOnly: path.endsWith("/"),
      text: `${module.name}:/${path}`,
    })),
  };
}

/**
 * Accepts the client's data-plane connections of one session (none: it fell back), then stops
 * taking more: a later connection is refused, so the client knows not to use it.
 */
function dataConnections(session: DataPlaneSession | null): () => Promise<DataConn[]> {
  return async () => {
    const conns: DataConn[] = [];
    if (!session) return conns;
    try {
      for (let i = 0; i < DATA_STREAMS; i++) {
        const conn = await session.accept(DATA_ACCEPT_TIMEOUT_MS);
        if (!conn) break;
        conns.push(conn);
      }
    } catch {
      // No (more) connections: the client fell back to the control stream.
    } finally {
      session.close();
    }
    return conns;
  };
}

/**
 * What a client may read of the daemon's paths: messages name paths relative to the module the
 * session concerns (then to any other export), never the daemon's absolute ones.
 */
function hiderOf(config: DaemonConfig, module: ExportedModule | null): HideRoots {
  const exports = [...config.modules.map((m) => m.path), ...(config.root ? [config.root] : [])];
  return hideRoots([
    ...(module ? [module.path] : []),
    ...exports.sort((a, b) => b.length - a.length),
  ]);
}

/**
 * Builds this side's role and checks the path it names before anything is accepted (a missing
 * or escaping source, an escaping destination): those are refusals, not session errors. The
 * role talks through a port that keeps the daemon's paths out of what it sends.
 */
function makeRole(
  grpcPort: StreamFramePort<ClientFrame>,
  place: SessionPlace,
  session: DataPlaneSession | null,
  hide: HideRoots,
): () => Promise<unknown> {
  const port = redactingPort(grpcPort, hide);
  const { request, module, tree, base, slash } = place;
  // Owners cross only when the client asks (root, no --no-owner), the module says keep_owner
  // and this server can give them (root); otherwise, silently, pushed files belong to the
  // daemon's user and a pull sends none (as rsync's daemon ignores -o it cannot apply).
  const keepOwner = request.terms.keepOwner && module.keepOwner && serverIsRoot();
  const terms = { ...request.terms, keepOwner };
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
      ...(place.more.length > 0
        ? { merge: [{ base, contentsOnly: slash, text: named }, ...place.more] }
        : {}),
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
      receive: (conn: DataConn, sink: PayloadSink, signal: AbortSignal) =>
        receivePayloads(conn, sink, { signal }),
      abandon: () => session.close(),
    };
    const role = new DestinationRole(port, {
      ...common,
      texts: { source: "the client's source", destination: named },
      trailingSlash: slash,
      consent: askPeerConsent(port),
      payload: { kind: "wire", data, writers: (onDone) => sharedWriters().session(onDone) },
      keepSpecialBits: module.keepSpecialBits,
    });
    return () => role.run();
  }
}

/**
 * Whether this server runs as root, so that it can give files any owner. Its sandbox grants
 * reading its ids only when an export keeps owners (daemon/permissions.ts); without that grant
 * it cannot tell, and keeps none. In a user namespace root is root of that namespace only, which
 * is why the launcher starts a server that keeps owners as root without one.
 */
function serverIsRoot(): boolean {
  if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state !== "granted") return false;
  return Deno.uid() === 0;
}

let writers: SharedCopyPool | null = null;

/**
 * The daemon's writer threads for received small files: one pool for every session (started with
 * the daemon, see {@linkcode startWriters}), so that many clients at once share two threads.
 */
function sharedWriters(): SharedCopyPool {
  return writers ??= new SharedCopyPool({ workers: Math.max(1, navigator.hardwareConcurrency) });
}

/**
 * Starts the writer threads of every session now (at the daemon's start): measured with 16
 * clients arriving at once, the first batches were otherwise written on the main thread while
 * the threads would have paid off (~700 ms of it in a profile).
 */
export function startWriters(): void {
  sharedWriters().startWorkers();
}

/**
 * The daemon's side of a transfer session's control stream: a framed connection
 * (`transport/frame_stream.ts`), which names its peer as grpc-js names a call's.
 */
export interface TransferStream extends DuplexLike<ServerFrame, ClientFrame> {
  /** The peer, `address:port`. */
  getPeer(): string;
}

/**
 * Handles one transfer session: handshake and proof, access, then this side's role; records
 * the session in the audit log.
 *
 * @param call The session's control stream.
 * @param context Configuration, access, data plane and logs.
 */
export async function handleTransfer(
  call: TransferStream,
  context: TransferRpcContext,
): Promise<void> {
  const port = streamFramePort<ServerFrame, ClientFrame>(call, SERVER_FRAME_CODEC, {
    budget: daemonInbound,
  });
  const { dataPlane, config } = context;
  let session: DataPlaneSession | null = null;
  let exported: ExportedModule | null = null;
  const peer = call.getPeer();
  const started = performance.now();
  let accepted = false;
  let cancelled = false;
  const cancel = (message: string): void => {
    if (cancelled) return;
    cancelled = true;
    // The client hears why (an abort frame, or a refusal before the Accept), then the streams
    // close, which ends this side's role.
    const told = accepted
      ? port.send({ type: "abort", abort: { code: "cancelled", message, subject: "" } })
      : port.sendRaw({
        case: "refuse",
        value: { code: RefuseCode.BUSY, message, reason: "", subject: "" },
      });
    const linger = (): void => {
      setTimeout(() => {
        session?.abort();
        port.close();
      }, CANCEL_LINGER_MS);
    };
    told.then(linger, linger);
  };
  const ended = context.sessions?.add(cancel);
  const audit: AuditEntry = {
    peer,
    user: null,
    module: "",
    operation: "transfer",
    path: "",
    files: 0,
    bytes: 0,
    outcome: "failed",
    durationMs: 0,
    error: null,
  };
  try {
    const { open, nonce } = await readOpen(port, context.authority.fingerprint);
    if (context.sessions?.closed) throw new Refusal(RefuseCode.BUSY, SHUTTING_DOWN_MESSAGE);
    const request = requestOf(open);
    const push = request.daemonRole === "destination";
    Object.assign(audit, {
      module: request.module,
      // A pull of several sources names the first and how many more.
      path: request.path +
        ((request.morePaths?.length ?? 0) > 0 ? ` (+${request.morePaths?.length} more)` : ""),
      operation: push ? "push" : request.terms.operation === "move" ? "pull-move" : "pull",
    });
    const admission = await context.authority.admit({
      peer,
      module: request.module,
      needs: push || request.terms.operation === "move" ? "write" : "read",
      proof: proofOf(open),
      nonce,
      purpose: "transfer",
      method: "",
    });
    audit.user = admission.user;
    context.helloDone?.(peer);
    exported = admission.exported;
    const place = placeSession(request, admission.exported, context);
    const forceGrpc = place.request.forceGrpc || config.forceGrpcData;
    if (!forceGrpc && dataPlane) {
      const opened = dataPlane.openSession({ maxConnections: DATA_STREAMS });
      session = opened;
      // A client that went away ends the session's data connections too: a role waiting on
      // them (a trickled payload, say) stops at once instead of holding the session.
      port.signal.addEventListener("abort", () => opened.abort(), { once: true });
    }
    const run = makeRole(port, place, session, hiderOf(config, place.module));
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
    accepted = true;
    const outcome = await run() as RoleOutcome;
    const written = push ? outcome.own : outcome.peer;
    Object.assign(audit, {
      files: written.transferred,
      bytes: written.bytes,
      outcome: outcome.own.failed + outcome.peer.failed > 0 ? "partial" : "ok",
    });
  } catch (error) {
    audit.error = cancelled ? "cancelled: daemon shutting down" : describeError(error);
    if (cancelled) {
      // The client was told already.
    } else if (error instanceof Refusal || error instanceof AccessDeniedError) {
      audit.outcome = "refused";
      const refusal = error instanceof Refusal
        ? error
        : new Refusal(RefuseCode.PERMISSION_DENIED, error.message);
      if (error instanceof AccessDeniedError) audit.error = `${error.message} (${error.why})`;
      const { code, reason } = refusal;
      // The audit log keeps the full text; the client reads paths relative to the module.
      const hide = hiderOf(config, exported);
      const [message, subject] = [hide(refusal.message), hide(refusal.subject)];
      await port.sendRaw({ case: "refuse", value: { code, message, reason, subject } })
        .catch(() => {});
    }
    // Otherwise the role already told the client why (an abort frame).
  } finally {
    session?.close();
    port.close();
    audit.durationMs = performance.now() - started;
    context.audit.record(audit);
    ended?.();
  }
}

/**
 * Sends the Challenge at once (the nonce is no secret, and the client then has it when its Hello
 * has gone: one round trip fewer before the Open), reads the Hello (checking the protocol
 * version), and reads the Open.
 * @returns The Open and the nonce its proof must cover.
 */
async function readOpen(
  port: StreamFramePort<ClientFrame>,
  fingerprint: string,
): Promise<{ open: Open; nonce: Uint8Array }> {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  await port.sendRaw({ case: "challenge", value: { nonce, tlsFingerprint: fingerprint } });
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
  return { open: open.value, nonce };
}
