/**
 * The client side of a remote session: dial the daemon, open a `Transfer` call, agree on the
 * terms (Hello/Open → Accept), then run this side's role — the SOURCE for a push, the
 * DESTINATION for a pull — exactly as a local run does. Nothing here decides policy.
 *
 * @module
 */

import type { ClientFrame, ServerFrame } from "../../proto/gen/blit_pb.ts";
import { CLIENT_FRAME_CODEC, RefuseCode, SERVER_FRAME_CODEC } from "../transport/frame_tables.ts";
import {
  absolutePath,
  type Endpoint,
  type EndpointTexts,
  formatHostAddress,
  isRefusalReason,
  type LocalEndpoint,
  type RemoteEndpoint,
  splitLocalPath,
  TransferRefusal,
} from "../endpoint.ts";
import { describeError, FatalError, SessionRefusedError, UsageError } from "../errors.ts";
import { limitConn } from "../transport/rate_limit.ts";
import { SharedPace } from "../shared_pace.ts";
import type { TransferStats } from "../stats.ts";
import { PlainTree } from "../tree.ts";
import {
  type DataConn,
  dialDataPlane,
  type PayloadSink,
  receivePayloads,
  sendPayloads,
} from "../transport/data_plane.ts";
import { type StreamFramePort, streamFramePort } from "../transport/stream_port.ts";
import type { ByteConn } from "../transport/conn_socket.ts";
import { FrameConn } from "../transport/frame_conn.ts";
import { connectTcp } from "../transport/connect_tcp.ts";
import { WireMeter } from "../transport/wire_meter.ts";
import { PROTOCOL_VERSION } from "../transport/protocol.ts";
import { CertificateMismatchError } from "../transport/tls_pin.ts";
import {
  type ConnectionSecurity,
  DaemonUnreachableError,
  isUnreachable,
  openSecureChannel,
  type SecureChannel,
} from "../client_security.ts";
import type { TransferOperation, TransferSummary } from "../types.ts";
import type { DestinationRole } from "./destination.ts";
import type { FramePort, SessionTerms } from "./frames.ts";
import { type SessionOptions, type SessionSetup, setUpSession } from "./setup.ts";
import type { TransferEvent } from "./planner.ts";
import { errorOfAbort, PeerAbortError, type RoleOutcome } from "./role.ts";
import type { SourceRole } from "./source.ts";
import { transferSummary } from "./summary.ts";
import { openToWire } from "./wire.ts";

/** Options of a remote transfer, on top of the common ones. */
export interface RemoteOptions extends SessionOptions {
  /** Carry payload in the control stream instead of the data plane. */
  forceGrpc?: boolean;
  /** Prints a warning line (e.g. the data-plane fallback). */
  warn?: (line: string) => void;
  /**
   * Connection deadline in milliseconds.
   * @default {10000}
   */
  connectTimeoutMs?: number;
  /**
   * Longest time the session may make no progress (no frame, no payload byte) before it fails
   * (`--timeout`); `0` waits forever.
   * @default {60000}
   */
  idleTimeoutMs?: number;
  /** The client's key and how it trusts the daemon (known hosts, CA, plaintext). */
  security?: ConnectionSecurity;
}

const REFUSALS: Record<number, string> = {
  [RefuseCode.MODULE_UNKNOWN]: "MODULE_UNKNOWN",
  [RefuseCode.READ_ONLY]: "READ_ONLY",
  [RefuseCode.PATH_INVALID]: "PATH_INVALID",
  [RefuseCode.PATH_NOT_FOUND]: "PATH_NOT_FOUND",
  [RefuseCode.VERSION_MISMATCH]: "VERSION_MISMATCH",
  [RefuseCode.BAD_REQUEST]: "BAD_REQUEST",
  [RefuseCode.INTERNAL]: "INTERNAL",
  [RefuseCode.BUSY]: "BUSY",
  [RefuseCode.PERMISSION_DENIED]: "PERMISSION_DENIED",
};

/** What the daemon granted: the data plane (or not). */
interface Grant {
  dataPort: number;
  token: Uint8Array;
  streams: number;
}

/**
 * Runs a push (local SOURCE → daemon DESTINATION) or a pull (daemon SOURCE → local
 * DESTINATION).
 *
 * @param operation The verb.
 * @param sources The source endpoint, or several on one side (all local for a push, all in the
 * daemon's one module for a pull), merged into one root.
 * @param destination The destination endpoint (exactly one side is remote).
 * @param options Compare rules, filters, consent and callbacks.
 * @throws {SessionRefusedError} When the daemon refuses the session.
 * @throws {TransferRefusal} When the transfer is refused before anything is written.
 * @throws {FatalError} When the daemon cannot be reached or the session fails.
 * @returns The run's summary.
 */
export async function runRemoteTransfer(
  operation: TransferOperation,
  sources: Endpoint | readonly Endpoint[],
  destination: Endpoint,
  options: RemoteOptions = {},
): Promise<TransferSummary> {
  const all = Array.isArray(sources) ? sources as readonly Endpoint[] : [sources as Endpoint];
  const source = all[0] as Endpoint;
  if (source.kind === "remote" && destination.kind === "remote") {
    throw new UsageError("Cannot transfer between two daemons: one side must be a local path");
  }
  const setup = setUpSession(operation, options);
  const remote = (source.kind === "remote" ? source : destination) as RemoteEndpoint;
  const push = destination.kind === "remote";
  const sourceText = all.map((s) => s.text).join(" ");
  const texts: EndpointTexts = { source: sourceText, destination: destination.text };
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs === 0
    ? NO_IDLE_LIMIT_MS
    : options.idleTimeoutMs ?? 60_000;
  const meter = new WireMeter();
  const pace = options.bandwidthLimit ? SharedPace.create(options.bandwidthLimit) : null;
  // This side's role is loaded while the connection is made: a push loads no destination code,
  // a pull no source code (start-up counts: module loading is a third of a small push's).
  // (`pushRole` and `pullRole` import the same modules again, and get these.)
  (push
    ? import("./source.ts")
    : Promise.all([import("./destination.ts"), import("../contained_tree.ts")])).catch(() => {});
  const { stream, channel } = await connect(remote, timeoutMs, options, { meter, pace });
  try {
    const port = streamFramePort<ClientFrame, ServerFrame>(stream, CLIENT_FRAME_CODEC, {
      idleTimeoutMs,
    });
    const morePaths = push ? [] : all.slice(1).map((s) => wirePath(s as RemoteEndpoint));
    const grant = await openSession(port, remote, setup.terms, push, options, {
      texts,
      timeoutMs,
      channel,
      morePaths,
    });
    const dialer = new DataDialer(grant, remote, options.warn, channel.connectData);
    // A push dials its data plane while the manifest goes out: its first file leaves ~10 ms
    // sooner, for ~10 ms of handshakes when nothing is sent. A pull dials when asked for files.
    if (push && !setup.terms.dryRun) dialer.prepare();
    const local = (push ? source : destination) as LocalEndpoint;
    let target = remote.text;
    let outcome: RoleOutcome;
    try {
      outcome = push
        ? await (await pushRole(port, setup, all as LocalEndpoint[], texts, dialer, {
          idleTimeoutMs,
          ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        })).run()
        : await (await pullRole(
          port,
          setup,
          local,
          texts,
          dialer,
          { ...options, idleTimeoutMs },
          (rel) => target = `/${rel}`,
        )).run();
    } catch (error) {
      if (error instanceof PeerAbortError) throw errorOfAbort(error.abort, texts);
      throw error;
    } finally {
      await dialer.release();
    }
    setup.stats.strategy = { transport: push ? "push" : "pull", data: dialer.carrier };
    return transferSummary({
      operation,
      source: sourceText,
      destination: target,
      sourceSide: push ? outcome.own : outcome.peer,
      destinationSide: push ? outcome.peer : outcome.own,
      dryRun: setup.terms.dryRun,
      startedAt: setup.startedAt,
      bytesOnWire: meter.bytesOnWire,
    });
  } finally {
    stream.end();
  }
}

/** `--timeout 0`: the longest timer JavaScript keeps (about 24.8 days). */
const NO_IDLE_LIMIT_MS = 2 ** 31 - 1;

/**
 * The channel with every connection it opens counted by `meter`, and its data connections held
 * to `pace`'s rate when there is one.
 */
function meteredChannel(
  channel: SecureChannel,
  { meter, pace }: { meter: WireMeter; pace: SharedPace | null },
): SecureChannel {
  const tls = channel.fingerprint !== "";
  const connectData = channel.connectData ??
    ((host: string, port: number, timeoutMs: number) =>
      connectTcp(host, port, { timeoutMs, action: `connect to data plane ${host}:${port}` }));
  return {
    ...channel,
    connectControl: async (timeoutMs) =>
      meter.wrap(await channel.connectControl(timeoutMs), { tls }),
    connectData: async (host, port, timeoutMs) => {
      const conn = meter.wrap(await connectData(host, port, timeoutMs), { tls });
      return pace === null ? conn : limitConn(conn, pace);
    },
  };
}

/** Dials the daemon's control port and opens a transfer stream on it. */
async function connect(
  remote: RemoteEndpoint,
  timeoutMs: number,
  options: RemoteOptions,
  wrappers: { meter: WireMeter; pace: SharedPace | null },
) {
  const address = formatHostAddress(remote);
  if (Deno.permissions.querySync({ name: "net", host: address }).state !== "granted") {
    throw new FatalError(
      `Cannot connect to blitd at ${address}: this process has no network permission for it; run blit with --allow-net (as "deno task blit" does)`,
    );
  }
  const warn = options.warn ?? ((line: string) => console.error(line));
  const channel = meteredChannel(
    await openSecureChannel(
      remote,
      { probeTimeoutMs: timeoutMs, ...options.security },
      warn,
    ),
    wrappers,
  );
  return { stream: await openTransferStream(channel, timeoutMs), channel };
}

/**
 * Opens a transfer session's control stream on a daemon's control port, with the channel's
 * trust: the connection, then the preface (`TRANSFER_PREFACE`), then frames.
 *
 * Requires `--allow-net` for the daemon.
 *
 * @example Usage
 * ```ts ignore
 * import { openSecureChannel } from "../client_security.ts";
 * import { openTransferStream } from "./remote.ts";
 * const channel = await openSecureChannel({ host: "nas", port: 9031 }, {}, console.error);
 * const stream = await openTransferStream(channel, 10_000);
 * ```
 *
 * @param channel The daemon's address and how it is trusted.
 * @param timeoutMs Longest time for the connection and its handshake.
 * @throws {FatalError} When the daemon cannot be reached (a changed certificate is named so).
 * @returns The stream, ready for the Hello.
 */
export async function openTransferStream(
  channel: SecureChannel,
  timeoutMs: number,
): Promise<FrameConn<ClientFrame, ServerFrame>> {
  let conn: ByteConn;
  try {
    conn = await channel.connectControl(timeoutMs);
  } catch (error) {
    const explained = await channel.explain(error);
    if (explained !== error) throw explained;
    if (isUnreachable(error)) throw new DaemonUnreachableError(channel.address, error);
    throw new FatalError(describeError(error), { cause: error });
  }
  return new FrameConn<ClientFrame, ServerFrame>(conn, CLIENT_FRAME_CODEC, SERVER_FRAME_CODEC);
}

/** Dials the data plane the daemon granted, falling back to the control stream with a warning. */
class DataDialer {
  readonly #grant: Grant;
  readonly #remote: RemoteEndpoint;
  readonly #warn: ((line: string) => void) | undefined;
  readonly #connect: SecureChannel["connectData"];
  #fellBack = false;
  /** The connections being dialled (or dialled), once asked for or prepared. */
  #dialing: Promise<{ conns: DataConn[]; failure: unknown }> | null = null;
  /** Whether a role took them (else `release` closes them). */
  #taken = false;

  constructor(
    grant: Grant,
    remote: RemoteEndpoint,
    warn: ((line: string) => void) | undefined,
    connect: SecureChannel["connectData"],
  ) {
    this.#grant = grant;
    this.#remote = remote;
    this.#warn = warn;
    this.#connect = connect;
  }

  /** Whether a data plane was granted at all. */
  get granted(): boolean {
    return this.#grant.dataPort !== 0;
  }

  /** How payload travelled, for the performance history. */
  get carrier(): string {
    if (!this.granted) return "grpc";
    return this.#fellBack ? "grpc-fallback" : `tcp x${this.#grant.streams}`;
  }

  /**
   * Starts dialling the granted connections now, while the manifest goes out, so that they are
   * ready when the first file is asked for (a dial costs a TCP and a TLS handshake, ~10 ms here).
   * {@linkcode DataDialer.dial} takes them; {@linkcode DataDialer.release} closes them if nothing
   * did (the daemon closes its side when the session ends).
   */
  prepare(): void {
    if (this.#dialing !== null) return;
    this.#dialing = this.#dialAll();
    this.#dialing.catch(() => {}); // the taker sees the failure
  }

  /** Opens the granted connections (none when they cannot be reached). */
  dial = async (): Promise<DataConn[]> => {
    this.#taken = true;
    const { conns, failure } = await (this.#dialing ??= this.#dialAll());
    // Said only now: a session that ended before asking had no use for the data plane.
    if (failure !== null) {
      this.#fellBack = true;
      this.#warn?.(
        `blit: warning: cannot reach the data port ${this.#grant.dataPort} (${
          describeError(failure)
        }); carrying data in the control stream instead`,
      );
    }
    return conns;
  };

  /** Closes the connections dialled ahead that nothing took. */
  async release(): Promise<void> {
    if (this.#dialing === null || this.#taken) return;
    this.#taken = true;
    const dialled = await this.#dialing.catch(() => null);
    for (const conn of dialled?.conns ?? []) conn.close();
  }

  /** Dials every granted connection; `failure` is why none could be used, if so. */
  async #dialAll(): Promise<{ conns: DataConn[]; failure: unknown }> {
    const { dataPort, token, streams } = this.#grant;
    if (dataPort === 0) return { conns: [], failure: null };
    const hostname = this.#remote.host === "localhost" ? "127.0.0.1" : this.#remote.host;
    // All at once: each costs a TCP and a TLS handshake.
    const dials = await Promise.allSettled(
      Array.from(
        { length: Math.max(1, streams) },
        () =>
          dialDataPlane({ hostname, port: dataPort, token }, {
            timeoutMs: 3000,
            ...(this.#connect ? { connect: this.#connect } : {}),
          }),
      ),
    );
    const conns: DataConn[] = [];
    for (const dial of dials) if (dial.status === "fulfilled") conns.push(dial.value);
    const failed = dials.find((dial) => dial.status === "rejected");
    if (failed !== undefined) {
      const error: unknown = failed.reason;
      if (error instanceof CertificateMismatchError) {
        for (const conn of conns) conn.close();
        throw error;
      }
      if (conns.length === 0) return { conns, failure: error ?? "no connection" };
    }
    return { conns, failure: null };
  }
}

/** A data connection whose writes add to a push's own byte count (for the progress line). */
function countingWrites(conn: DataConn, stats: TransferStats): DataConn {
  return {
    read: (p) => conn.read(p),
    write: async (p) => {
      const n = await conn.write(p);
      stats.bytes += n;
      return n;
    },
    close: () => conn.close(),
  };
}

/** The SOURCE role of a push, over the local tree (one source, or several merged). */
async function pushRole(
  port: FramePort,
  setup: SessionSetup,
  sources: readonly LocalEndpoint[],
  texts: EndpointTexts,
  dialer: DataDialer,
  { idleTimeoutMs, onEvent }: { idleTimeoutMs: number; onEvent?: (event: TransferEvent) => void },
): Promise<SourceRole> {
  const { SourceRole, sourcePicks } = await import("./source.ts");
  const local = sources[0] as LocalEndpoint;
  const sourceAbs = absolutePath(local.path);
  return new SourceRole(port, {
    terms: setup.terms,
    filter: setup.filter,
    tree: new PlainTree("/"),
    base: sourceAbs.slice(1),
    contentsOnly: local.trailingSlash,
    rootName: splitLocalPath(sourceAbs)[1],
    keepRoot: false,
    ...(sources.length > 1 ? { merge: sourcePicks(sources) } : {}),
    texts,
    stats: setup.stats,
    hasher: setup.hasher,
    gate: setup.gate,
    payload: {
      kind: "wire",
      // The bytes written out are this side's progress (the destination counts what landed).
      open: async () => (await dialer.dial()).map((conn) => countingWrites(conn, setup.stats)),
      send: (conn, items) => sendPayloads(conn, items, { idleTimeoutMs }),
    },
    consent: setup.consent,
    ...(onEvent ? { onEvent } : {}),
  });
}

/** The DESTINATION role of a pull: it writes only through a contained tree. */
async function pullRole(
  port: FramePort,
  setup: SessionSetup,
  local: LocalEndpoint,
  texts: EndpointTexts,
  dialer: DataDialer,
  options: RemoteOptions & { idleTimeoutMs: number },
  onPlaced: (rel: string) => void,
): Promise<DestinationRole> {
  const [{ DestinationRole }, { ContainedTree }] = await Promise.all([
    import("./destination.ts"),
    import("../contained_tree.ts"),
  ]);
  const { idleTimeoutMs } = options;
  const destinationAbs = absolutePath(local.path);
  const data = dialer.granted
    ? {
      open: dialer.dial,
      receive: (conn: DataConn, sink: PayloadSink, signal: AbortSignal) =>
        receivePayloads(conn, sink, { signal, idleTimeoutMs }),
      abandon: () => {},
    }
    : null;
  return new DestinationRole(port, {
    terms: setup.terms,
    filter: setup.filter,
    tree: ContainedTree.open("/"),
    base: destinationAbs.slice(1),
    trailingSlash: local.trailingSlash,
    texts,
    stats: setup.stats,
    hasher: setup.hasher,
    gate: setup.gate,
    consent: setup.consent,
    payload: { kind: "wire", data },
    keepSpecialBits: options.keepSpecialBits ?? false,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    onPlaced,
  });
}

/** Hello and Open, then the daemon's Accept (or Refuse). */
async function openSession(
  port: StreamFramePort<ServerFrame>,
  remote: RemoteEndpoint,
  terms: SessionTerms,
  push: boolean,
  options: RemoteOptions,
  context: {
    texts: EndpointTexts;
    timeoutMs: number;
    channel: SecureChannel;
    morePaths: string[];
  },
): Promise<Grant> {
  await port.sendRaw({
    case: "hello",
    value: { protocolVersion: PROTOCOL_VERSION, clientName: "blit-cli/0.1.0" },
  });
  const challenge = await port.nextRaw(context.timeoutMs);
  if (challenge?.case === "refuse") throw refusedError(challenge.value, context.texts, remote.text);
  if (challenge?.case !== "challenge") {
    throw new FatalError(
      "Cannot start the session: the daemon sent no challenge (an older blitd?)",
    );
  }
  context.channel.checkReported(challenge.value.tlsFingerprint);
  const module = remote.module ?? "";
  const proof = await context.channel.prove({
    purpose: "transfer",
    nonce: challenge.value.nonce,
    module,
    method: "",
  });
  await port.sendRaw({
    case: "open",
    value: {
      ...openToWire({
        daemonRole: push ? "destination" : "source",
        module,
        path: wirePath(remote),
        morePaths: context.morePaths,
        terms,
        filters: [...(options.filters ?? [])],
        forceGrpc: options.forceGrpc ?? false,
      }),
      ...(proof ?? {}),
    },
  });
  const reply = await port.nextRaw(context.timeoutMs);
  if (reply?.case === "refuse") throw refusedError(reply.value, context.texts, remote.text);
  if (reply?.case === "error") throw new FatalError(reply.value.message);
  if (reply?.case !== "accept") {
    throw new FatalError("Cannot start the session: the daemon did not accept it");
  }
  return {
    dataPort: reply.value.dataPort,
    token: reply.value.sessionToken,
    streams: reply.value.dataStreams,
  };
}

/** A remote path as an Open carries it: a trailing `/` for its contents. */
function wirePath(remote: RemoteEndpoint): string {
  return remote.path + (remote.trailingSlash && remote.path !== "" ? "/" : "");
}

/** The error for a daemon's refusal. */
function refusedError(
  refusal: { reason: string; subject: string; message: string; code: RefuseCode },
  texts: EndpointTexts,
  remote: string,
): Error {
  const { reason, subject, message, code } = refusal;
  if (isRefusalReason(reason)) return new TransferRefusal(reason, texts, subject);
  const said = code === RefuseCode.PERMISSION_DENIED
    ? `Cannot open ${remote}: ${message}`
    : message;
  return new SessionRefusedError(REFUSALS[code] ?? "REFUSED", said);
}
