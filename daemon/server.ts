/**
 * The daemon's server process: started by the `blitd` launcher with permission flags computed
 * from the configuration, it serves the gRPC control plane and the TCP data plane.
 *
 * Contract with the launcher (see daemon/handoff.ts): the configuration and the TLS material
 * arrive as one line on standard input, which then stays open; the server prints
 * `blitd: listening on HOST:PORT` once serving, writes audit lines to standard output (marked
 * with `AUDIT_LINE_PREFIX`), and exits 0 when standard input ends or on SIGTERM/SIGINT, 78 when
 * the configuration can never work (e.g. the port is taken).
 *
 * Its console log (standard error) has one line per finished session and per event
 * (connections refused or idle, the shutdown), as text starting with an ISO-8601 time or as JSON
 * (`log_format`). Stopping is graceful: no new connection or session is taken, running sessions
 * may finish for `shutdown_grace` (30 s by default), and those still running then are cancelled
 * with "daemon shutting down" sent to their clients.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { type DaemonConfig, logFormatOf, shutdownGraceOf } from "../core/config.ts";
import { AddressRules } from "../core/cidr.ts";
import { ConnectionGate } from "../core/transport/connection_gate.ts";
import { describeError } from "../core/errors.ts";
import { DataPlaneListener } from "../core/transport/data_plane.ts";
import { type FilterSocket, listenFiltered } from "../core/transport/goaway_filter.ts";
import { FramedStream } from "../core/transport/frame_stream.ts";
import { PROTOCOL_VERSION } from "../core/transport/protocol.ts";
import type { ClientFrame, ServerFrame } from "../proto/gen/blit_pb.ts";
import { CLIENT_FRAME_CODEC, SERVER_FRAME_CODEC } from "../core/transport/frame_tables.ts";
import {
  BLIT_SERVICE,
  type BlitServer,
  blitServerOptions,
} from "../core/transport/grpc_service.ts";
import { createAdminHandlers } from "./admin_rpc.ts";
import { AuditLog, eventLine } from "./audit_log.ts";
import { Authority } from "./authority.ts";
import { AUDIT_LINE_PREFIX, readHandoff, type ServerHandoff } from "./handoff.ts";
import { rememberUmaskBits } from "../core/session/planner.ts";
import {
  handleTransfer,
  RunningSessions,
  SHUTTING_DOWN_MESSAGE,
  startWriters,
  type TransferRpcContext,
} from "./transfer_rpc.ts";
import { EXIT_NO_RESTART } from "./supervisor.ts";
import { type MdnsAdvertiser, startMdnsAdvertiser } from "./mdns.ts";

/** A running daemon server. */
export interface RunningServer {
  /** The gRPC port actually bound. */
  port: number;
  /** `SHA256:…` of the TLS certificate, or `null` without TLS. */
  fingerprint: string | null;
  /**
   * Stops serving, gracefully: takes no new connection or session, lets the running sessions
   * finish for the configuration's shutdown grace, then cancels those left (their clients read
   * "daemon shutting down") and closes.
   */
  stop(): Promise<void>;
}

/** How long cancelled sessions may take to end (and be logged) before the server closes. */
const CANCELLED_WAIT_MS = 5_000;

/** How long in-flight admin calls may take once the sessions are over. */
const ADMIN_WAIT_MS = 2_000;

/** Options of {@linkcode startServer}. */
export interface StartServerOptions extends Pick<TransferRpcContext, "openTree"> {
  /**
   * Writes one console line (already formatted: text with its time, or JSON).
   * @default {console.error}
   */
  log?: (line: string) => void;
  /**
   * Receives each audit JSON line when the configuration names an audit log.
   * @default {a function writing it to standard output after AUDIT_LINE_PREFIX}
   */
  audit?: (line: string) => void;
}

/**
 * Starts the gRPC server and the data plane for a handoff.
 * @param handoff The resolved configuration and the TLS material.
 * @param options Where log and audit lines go, and a test hook that replaces the modules' trees.
 * @returns The running server.
 */
export async function startServer(
  handoff: ServerHandoff,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const { config, tls } = handoff;
  const write = options.log ?? ((line: string) => console.error(line));
  const format = logFormatOf(config);
  const log = (message: string): void => write(eventLine(message, new Date(), format));
  const openTree = options.openTree;
  const authority = new Authority(config, tls?.fingerprint ?? "");
  const audit = new AuditLog(
    config.auditLog === null ? null : (options.audit ?? writeAuditLine),
    write,
    { format },
  );
  const sessions = new RunningSessions();
  const rules = new AddressRules(config.hostsAllow, config.hostsDeny);
  const allowed = (address: string): boolean => rules.allows(address);
  const gate = new ConnectionGate({
    allowed,
    maxConnections: config.maxConnections,
    maxPerHost: config.maxConnectionsPerHost,
    onRefused: (address, reason) => log(`${address}: refused: ${reason}`),
  });
  const dataPlane = config.forceGrpcData ? null : DataPlaneListener.listen(
    config.bind === "localhost" ? "127.0.0.1" : config.bind,
    { allowed, tls: tls && { cert: tls.certPem, key: tls.keyPem } },
  );
  const server = new grpc.Server(blitServerOptions());
  const helloDone = (peer: string): void => gate.helloDone(peer);
  const context = { config, log, authority, audit, helloDone };
  const handlers: BlitServer = {
    transfer: refuseGrpcTransfer,
    ...createAdminHandlers(context),
  };
  const transferContext = {
    ...context,
    dataPlane,
    sessions,
    ...(openTree ? { openTree } : {}),
  };
  const onTransfer = (stream: FilterSocket, socket: FilterSocket): void => {
    const call = new FramedStream<ServerFrame, ClientFrame>(
      stream,
      SERVER_FRAME_CODEC,
      CLIENT_FRAME_CODEC,
      { peer: socket },
    );
    handleTransfer(call, transferContext).catch((error) => {
      log(`${socket.remoteAddress ?? "?"}: transfer failed: ${describeError(error)}`);
    });
  };
  server.addService(BLIT_SERVICE, handlers);
  // Connections are admitted (address rules, caps, hello deadline) before any byte is read,
  // then decrypted, then passed to grpc-js through a filter that drops the client's HTTP/2
  // GOAWAY: under Deno a graceful client close can otherwise abort the whole server process
  // (denoland/deno#36788; see README).
  const { listener, port } = await listenFiltered(server, grpc.ServerCredentials.createInsecure(), {
    hostname: config.bind,
    port: config.port,
    tls: tls && { cert: tls.certPem, key: tls.keyPem },
    admit: (socket) => gate.admit(socket),
    onTransfer,
    onIdle: (address) => log(`${address}: closed: no call in flight for 10 s`),
    onAcceptError: (error, retryInMs) =>
      log(
        `blitd: cannot accept a connection (${describeError(error)}); retrying in ${retryInMs} ms`,
      ),
  });
  // A daemon that may be written to starts its writer threads now (see startWriters).
  if (config.modules.some((module) => !module.readOnly)) startWriters();
  const mdns = config.noMdns ? null : await advertise(config, port, log);
  return {
    port,
    fingerprint: tls?.fingerprint ?? null,
    stop: async () => {
      listener.close();
      sessions.close();
      const goodbye = mdns?.stop();
      const adminDone = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      const graceMs = shutdownGraceOf(config);
      const running = sessions.size;
      if (running > 0) {
        log(
          `stopping: no new sessions; waiting up to ${seconds(graceMs)} for ${
            plural(running, "running session")
          }`,
        );
        if (!(await sessions.idle(graceMs))) {
          const cancelled = sessions.cancelAll(SHUTTING_DOWN_MESSAGE);
          log(
            `stopping: cancelling ${plural(cancelled, "session")} still running after ${
              seconds(graceMs)
            }`,
          );
          await sessions.idle(CANCELLED_WAIT_MS);
        }
      }
      await Promise.race([adminDone, new Promise((resolve) => setTimeout(resolve, ADMIN_WAIT_MS))]);
      server.forceShutdown();
      dataPlane?.close();
      await goodbye;
    },
  };
}

/**
 * Answers a gRPC `Transfer` call: transfers are framed connections on the same port now
 * (protocol 6 on); an older client is told to upgrade.
 */
function refuseGrpcTransfer(call: grpc.ServerDuplexStream<ClientFrame, ServerFrame>): void {
  call.emit("error", {
    code: grpc.status.UNIMPLEMENTED,
    details:
      `Cannot transfer over gRPC: this daemon speaks protocol ${PROTOCOL_VERSION}; upgrade blit`,
  });
}

/** Starts the mDNS advertiser; a failure is logged and the server runs without it. */
async function advertise(
  config: DaemonConfig,
  port: number,
  log: (line: string) => void,
): Promise<MdnsAdvertiser | null> {
  try {
    const advertiser = await startMdnsAdvertiser(config, port, { log });
    log(`blitd: advertising ${advertiser.fullName} over mDNS`);
    return advertiser;
  } catch (error) {
    log(`blitd: ${describeError(error)}`);
    return null;
  }
}

/** `30 s`, `1.5 s`, `0.25 s`. */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 1000 ? 2 : 1))} s`;
}

/** `1 session`, `2 sessions`. */
function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

const stdoutEncoder = new TextEncoder();

/** Writes an audit line to standard output, marked for the launcher. */
function writeAuditLine(line: string): void {
  const bytes = stdoutEncoder.encode(`${AUDIT_LINE_PREFIX}${line}\n`);
  let offset = 0;
  while (offset < bytes.byteLength) offset += Deno.stdout.writeSync(bytes.subarray(offset));
}

/**
 * Runs the server process: reads the handoff from standard input, serves until standard input
 * ends or SIGTERM/SIGINT arrives.
 * @param options Test hooks (see {@linkcode startServer}).
 * @returns The exit code.
 */
export async function serverMain(options: StartServerOptions = {}): Promise<number> {
  let handoff: ServerHandoff;
  let ended: Promise<void>;
  try {
    ({ handoff, ended } = await readHandoff(Deno.stdin.readable));
  } catch (error) {
    console.error(`blitd: ${describeError(error)}`);
    return EXIT_NO_RESTART;
  }
  const { config } = handoff;
  if (handoff.umask !== null) rememberUmaskBits(handoff.umask);
  let running: RunningServer;
  try {
    running = await startServer(handoff, options);
  } catch (error) {
    console.error(`blitd: Cannot listen on ${config.bind}:${config.port}: ${describeError(error)}`);
    return EXIT_NO_RESTART;
  }
  const stopped = Promise.withResolvers<number>();
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    running.stop().then(() => stopped.resolve(0));
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  ended.then(stop);
  if (config.motd) console.error(`blitd: motd: ${config.motd}`);
  console.log(`blitd: listening on ${config.bind}:${running.port}`);
  console.log(
    running.fingerprint === null
      ? "blitd: TLS off: sessions are not encrypted"
      : `blitd: TLS certificate ${running.fingerprint}`,
  );
  return await stopped.promise;
}

if (import.meta.main) {
  try {
    Deno.exit(await serverMain());
  } catch (error) {
    console.error(`blitd: ${describeError(error)}`);
    Deno.exit(1);
  }
}
