/**
 * The client side of a remote session: dial the daemon, open a `Transfer` call, agree on the
 * terms (Hello/Open → Accept), then run this side's role — the SOURCE for a push, the
 * DESTINATION for a pull — exactly as a local run does. Nothing here decides policy.
 *
 * @module
 */

import { ClientFrameSchema, RefuseCode, Role, type ServerFrame } from "../../proto/gen/blit_pb.ts";
import {
  absolutePath,
  type EndpointTexts,
  isRefusalReason,
  type LocalEndpoint,
  type RemoteEndpoint,
  splitLocalPath,
  TransferRefusal,
} from "../endpoint.ts";
import { describeError, FatalError, SessionRefusedError, UsageError } from "../errors.ts";
import { ContainedTree, PlainTree } from "../tree.ts";
import { dialDataPlane, receivePayloads, sendPayloads } from "../transport/data_plane.ts";
import { type GrpcFramePort, grpcFramePort } from "../transport/grpc_port.ts";
import type { TransferOperation, TransferSummary } from "../types.ts";
import { DestinationRole } from "./destination.ts";
import type { SessionTerms } from "./frames.ts";
import { type SessionOptions, setUpSession } from "./setup.ts";
import { errorOfAbort, PeerAbortError, type RoleOutcome, SourceRole } from "./source.ts";
import { transferSummary } from "./summary.ts";
import { compareToWire, operationToWire } from "./wire.ts";

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
};

function hostForDial(host: string): string {
  return host === "localhost" ? "127.0.0.1" : host;
}

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
 * @param source The source endpoint.
 * @param destination The destination endpoint (exactly one of the two is remote).
 * @param options Compare rules, filters, consent and callbacks.
 * @throws {SessionRefusedError} When the daemon refuses the session.
 * @throws {TransferRefusal} When the transfer is refused before anything is written.
 * @throws {FatalError} When the daemon cannot be reached or the session fails.
 * @returns The run's summary.
 */
export async function runRemoteTransfer(
  operation: TransferOperation,
  source: LocalEndpoint | RemoteEndpoint,
  destination: LocalEndpoint | RemoteEndpoint,
  options: RemoteOptions = {},
): Promise<TransferSummary> {
  if (source.kind === "remote" && destination.kind === "remote") {
    throw new UsageError("Cannot transfer between two daemons: one side must be a local path");
  }
  const setup = setUpSession(operation, options);
  const remote = (source.kind === "remote" ? source : destination) as RemoteEndpoint;
  const push = destination.kind === "remote";
  const texts: EndpointTexts = { source: source.text, destination: destination.text };
  const grpc = await import("@grpc/grpc-js");
  const { BlitClientClass, blitChannelOptions } = await import("../transport/grpc_service.ts");
  const address = `${remote.host.includes(":") ? `[${remote.host}]` : remote.host}:${remote.port}`;
  if (Deno.permissions.querySync({ name: "net", host: address }).state !== "granted") {
    throw new FatalError(
      `Cannot connect to blitd at ${address}: this process has no network permission for it; run blit with --allow-net (as "deno task blit" does)`,
    );
  }
  const client = new BlitClientClass(
    address,
    grpc.credentials.createInsecure(),
    blitChannelOptions(),
  );
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  try {
    await new Promise<void>((resolve, reject) => {
      client.waitForReady(Date.now() + connectTimeoutMs, (error) => {
        if (!error) return resolve();
        reject(
          new FatalError(
            `Cannot connect to blitd at ${address}: ${
              describeError(error)
            }; is the daemon running?`,
          ),
        );
      });
    });
    const call = client.transfer();
    const port = grpcFramePort<import("../../proto/gen/blit_pb.ts").ClientFrame, ServerFrame>(
      call,
      ClientFrameSchema,
    );
    const grant = await openSession(port, remote, setup.terms, push, options, {
      texts,
      timeoutMs: connectTimeoutMs,
    });
    let fellBack = false;
    const dial = async (): Promise<Deno.Conn[]> => {
      if (grant.dataPort === 0) return [];
      const conns: Deno.Conn[] = [];
      try {
        for (let i = 0; i < Math.max(1, grant.streams); i++) {
          conns.push(
            await dialDataPlane({
              hostname: hostForDial(remote.host),
              port: grant.dataPort,
              token: grant.token,
            }, { timeoutMs: 3000 }),
          );
        }
      } catch (error) {
        if (conns.length === 0) {
          fellBack = true;
          options.warn?.(
            `blit: warning: cannot reach the data port ${grant.dataPort} (${
              describeError(error)
            }); carrying data in the control stream instead`,
          );
        }
      }
      return conns;
    };
    let target = remote.text;
    let outcome: RoleOutcome;
    try {
      if (push) {
        const local = source as LocalEndpoint;
        const sourceAbs = absolutePath(local.path);
        outcome = await new SourceRole(port, {
          terms: setup.terms,
          filter: setup.filter,
          tree: new PlainTree("/"),
          base: sourceAbs.slice(1),
          contentsOnly: local.trailingSlash,
          rootName: splitLocalPath(sourceAbs)[1],
          keepRoot: false,
          texts,
          stats: setup.stats,
          hasher: setup.hasher,
          gate: setup.gate,
          payload: { kind: "wire", open: dial, send: (conn, items) => sendPayloads(conn, items) },
          consent: setup.consent,
        }).run();
      } else {
        const local = destination as LocalEndpoint;
        const destinationAbs = absolutePath(local.path);
        outcome = await new DestinationRole(port, {
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
          payload: {
            kind: "wire",
            data: grant.dataPort === 0 ? null : {
              open: dial,
              receive: (conn, sink) => receivePayloads(conn, sink),
              abandon: () => {},
            },
          },
          ...(options.onEvent ? { onEvent: options.onEvent } : {}),
          onPlaced: (rel) => target = `/${rel}`,
        }).run();
      }
    } catch (error) {
      if (error instanceof PeerAbortError) throw errorOfAbort(error.abort, texts);
      throw error;
    }
    call.end();
    setup.stats.strategy = {
      transport: push ? "push" : "pull",
      data: grant.dataPort === 0 ? "grpc" : fellBack ? "grpc-fallback" : `tcp x${grant.streams}`,
    };
    return transferSummary({
      operation,
      source: source.text,
      destination: target,
      sourceSide: push ? outcome.own : outcome.peer,
      destinationSide: push ? outcome.peer : outcome.own,
      dryRun: setup.terms.dryRun,
      startedAt: setup.startedAt,
    });
  } finally {
    client.close();
  }
}

/** Hello and Open, then the daemon's Accept (or Refuse). */
async function openSession(
  port: GrpcFramePort<ServerFrame>,
  remote: RemoteEndpoint,
  terms: SessionTerms,
  push: boolean,
  options: RemoteOptions,
  context: { texts: EndpointTexts; timeoutMs: number },
): Promise<Grant> {
  const { PROTOCOL_VERSION } = await import("../transport/grpc_service.ts");
  await port.sendRaw({
    case: "hello",
    value: { protocolVersion: PROTOCOL_VERSION, clientName: "blit-cli/0.1.0" },
  });
  await port.sendRaw({
    case: "open",
    value: {
      role: push ? Role.DESTINATION : Role.SOURCE,
      module: remote.module ?? "",
      path: remote.path + (remote.trailingSlash && remote.path !== "" ? "/" : ""),
      operation: operationToWire(terms.operation),
      compare: compareToWire(terms.compare),
      ignoreExisting: terms.ignoreExisting,
      dryRun: terms.dryRun,
      filterRules: (options.filters ?? []).map((r) =>
        `${r.action === "include" ? "+" : "-"} ${r.pattern}`
      ),
      forceGrpcData: options.forceGrpc ?? false,
      dataStreams: 2,
      ...(terms.maxDelete === null ? {} : { maxDelete: BigInt(terms.maxDelete) }),
    },
  });
  const reply = await port.nextRaw(context.timeoutMs);
  if (reply?.case === "refuse") {
    const { reason, subject, message, code } = reply.value;
    if (isRefusalReason(reason)) throw new TransferRefusal(reason, context.texts, subject);
    throw new SessionRefusedError(REFUSALS[code] ?? "REFUSED", message);
  }
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
