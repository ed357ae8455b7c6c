/**
 * The client side of a remote session: connects to a daemon, opens a `Transfer` call, and runs
 * the SOURCE role (push) or the DESTINATION role (pull) of the same engine the local transfer
 * uses.
 *
 * @module
 */

import {
  ClientFrameSchema,
  EntryKind as WireKind,
  RefuseCode,
  Role,
  type ServerFrame,
  type Summary,
} from "../../proto/gen/blit_pb.ts";
import { describeError, FatalError, UsageError } from "../errors.ts";
import { compileFilter, type FilterRule } from "../filter.ts";
import { hashFileWasm } from "../hash.ts";
import type { LocalEndpoint, RemoteEndpoint } from "../remote_path.ts";
import { TransferStats } from "../stats.ts";
import { absolutePath } from "../target.ts";
import { dialDataPlane } from "../transport/data_plane.ts";
import { grpcFramePort } from "../transport/grpc_port.ts";
import type { TransferOperation, TransferSummary } from "../types.ts";
import { LocalDestination } from "./destination.ts";
import { runDestinationRole } from "./destination_role.ts";
import type { SessionOptions } from "./local.ts";
import { runSourceRole } from "./source_role.ts";
import { summarize } from "./summary.ts";
import { compareToWire, operationToWire } from "./wire.ts";

/** Options of a remote transfer, on top of the local ones. */
export interface RemoteOptions extends SessionOptions {
  /** Carry payload in the control stream instead of the data plane. */
  forceGrpc?: boolean;
  /** Prints a warning line (e.g. the data-plane fallback). */
  warn?: (line: string) => void;
  /** Whether mirror may delete on a remote destination without asking. */
  allowDelete?: boolean;
  /** Connection deadline in milliseconds. */
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

/** Raised when the daemon refuses a session; carries the typed code. */
export class SessionRefusedError extends Error {
  /** The refusal code name, e.g. `READ_ONLY`. */
  readonly code: string;
  /**
   * Creates the error.
   * @param code The code name.
   * @param message The daemon's one-line message.
   */
  constructor(code: string, message: string) {
    super(`${message} (${code})`);
    this.name = "SessionRefusedError";
    this.code = code;
  }
}

function filterRulesToWire(rules: readonly FilterRule[]): string[] {
  return rules.map((r) => `${r.action === "include" ? "+" : "-"} ${r.pattern}`);
}

function hostForDial(host: string): string {
  return host === "localhost" ? "127.0.0.1" : host;
}

/**
 * Runs a push (local SOURCE → daemon DESTINATION) or a pull (daemon SOURCE → local
 * DESTINATION).
 *
 * @param operation The verb.
 * @param source The source endpoint.
 * @param destination The destination endpoint (exactly one of the two is remote).
 * @param options Compare rules, filters and callbacks.
 * @returns The merged summary.
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
  const remote = (source.kind === "remote" ? source : destination) as RemoteEndpoint;
  const push = destination.kind === "remote";
  const {
    compare = "size-mtime",
    ignoreExisting = false,
    dryRun = false,
    filters = [],
    stats = new TransferStats(),
    onEvent,
    warn = () => {},
    connectTimeoutMs = 10_000,
  } = options;
  const filter = compileFilter(filters);
  const grpc = await import("@grpc/grpc-js");
  const { BlitClientClass, blitChannelOptions, PROTOCOL_VERSION } = await import(
    "../transport/grpc_service.ts"
  );
  const hostText = remote.host.includes(":") ? `[${remote.host}]` : remote.host;
  const permission = Deno.permissions.querySync({
    name: "net",
    host: `${hostText}:${remote.port}`,
  });
  if (permission.state !== "granted") {
    throw new FatalError(
      `Cannot connect to blitd at ${hostText}:${remote.port}: this process has no network permission for it; run blit with --allow-net (as "deno task blit" does)`,
    );
  }
  const client = new BlitClientClass(
    `${hostText}:${remote.port}`,
    grpc.credentials.createInsecure(),
    blitChannelOptions(),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      client.waitForReady(Date.now() + connectTimeoutMs, (error) => {
        if (error) {
          reject(
            new FatalError(
              `Cannot connect to blitd at ${hostText}:${remote.port}: ${
                describeError(error)
              }; is the daemon running?`,
            ),
          );
        } else resolve();
      });
    });
    const call = client.transfer();
    const port = grpcFramePort<import("../../proto/gen/blit_pb.ts").ClientFrame, ServerFrame>(
      call,
      ClientFrameSchema,
    );

    let localRoot = "";
    let localKind: "file" | "dir" | "symlink" = "dir";
    let contentsOnly = false;
    if (push) {
      const text = (source as LocalEndpoint).path;
      localRoot = absolutePath(text);
      let info: Deno.FileInfo;
      try {
        info = text.endsWith("/") ? Deno.statSync(localRoot) : Deno.lstatSync(localRoot);
      } catch {
        throw new UsageError(`Cannot find source "${text}": check the path`);
      }
      localKind = info.isDirectory ? "dir" : info.isSymlink ? "symlink" : "file";
      contentsOnly = text.endsWith("/");
      if (contentsOnly && localKind !== "dir") {
        throw new UsageError(`Cannot copy the contents of "${text}": it is not a directory`);
      }
      if (contentsOnly) localRoot = Deno.realPathSync(localRoot);
    }
    await port.sendRaw({
      case: "hello",
      value: {
        $typeName: "blit.v1.Hello",
        protocolVersion: PROTOCOL_VERSION,
        clientName: "blit-cli/0.1.0",
      },
    });
    await port.sendRaw({
      case: "open",
      value: {
        $typeName: "blit.v1.Open",
        role: push ? Role.DESTINATION : Role.SOURCE,
        module: remote.module ?? "",
        path: remote.path + (remote.trailingSlash && remote.path !== "" ? "/" : ""),
        operation: operationToWire(operation),
        compare: compareToWire(compare),
        ignoreExisting,
        dryRun,
        includes: [],
        excludes: [],
        filterRules: filterRulesToWire(filters),
        forceGrpcData: options.forceGrpc ?? false,
        sourceKind: localKind === "dir"
          ? WireKind.DIR
          : localKind === "file"
          ? WireKind.FILE
          : WireKind.SYMLINK,
        sourceName: localRoot.slice(localRoot.lastIndexOf("/") + 1),
        sourceTrailingSlash: contentsOnly,
        dataStreams: 2,
        allowDelete: options.allowDelete ?? false,
      },
    });
    const reply = await port.nextRaw(connectTimeoutMs);
    if (reply?.case === "refuse") {
      throw new SessionRefusedError(REFUSALS[reply.value.code] ?? "REFUSED", reply.value.message);
    }
    if (reply?.case === "error") throw new FatalError(reply.value.message);
    if (reply?.case !== "accept") {
      throw new FatalError("Cannot start the session: the daemon did not accept it");
    }
    const accept = reply.value;
    let fellBack = false;
    const openData = accept.dataPort !== 0
      ? async (): Promise<Deno.Conn[]> => {
        const conns: Deno.Conn[] = [];
        try {
          for (let i = 0; i < Math.max(1, accept.dataStreams); i++) {
            conns.push(
              await dialDataPlane({
                hostname: hostForDial(remote.host),
                port: accept.dataPort,
                token: accept.sessionToken,
              }, { timeoutMs: 3000 }),
            );
          }
        } catch (error) {
          if (conns.length === 0) {
            fellBack = true;
            warn(
              `blit: warning: cannot reach the data port ${accept.dataPort} (${
                describeError(error)
              }); ` +
                "carrying data in the control stream instead",
            );
          }
        }
        return conns;
      }
      : null;

    let remoteSummary: Summary;
    let scanComplete = true;
    let deletionsSkipped: string | null = null;
    let destinationText: string;
    if (push) {
      const outcome = await runSourceRole(port, {
        root: localRoot,
        filter,
        move: operation === "move",
        keepRoot: contentsOnly,
        dryRun,
        stats,
        hasher: options.hasher ?? hashFileWasm,
        openData,
      });
      remoteSummary = outcome.destination;
      scanComplete = outcome.scanComplete;
      deletionsSkipped = remoteSummary.deletionsSkippedReason ?? null;
      stats.transferred = Number(remoteSummary.filesTransferred);
      stats.bytes = Number(remoteSummary.bytesTransferred);
      stats.deleted = Number(remoteSummary.entriesDeleted);
      for (const f of remoteSummary.failures) stats.fail(f.path, f.message);
      destinationText = remote.text;
    } else {
      const dstText = (destination as LocalEndpoint).path;
      const dstAbs = absolutePath(dstText);
      let dstIsDir = false;
      try {
        dstIsDir = Deno.statSync(dstAbs).isDirectory;
      } catch { /* missing */ }
      const remoteContents = remote.trailingSlash && accept.sourceKind === WireKind.DIR;
      const name = accept.sourceName || remote.module || "root";
      const target = !remoteContents && (dstText.endsWith("/") || dstIsDir)
        ? `${dstAbs === "/" ? "" : dstAbs}/${name}`
        : dstAbs;
      const dest = new LocalDestination({
        root: target,
        compare,
        ignoreExisting,
        mirror: operation === "mirror",
        dryRun,
        filter,
        stats,
        hashDestination: options.hasher ?? hashFileWasm,
        hashSource: () => Promise.reject(new Error("Cannot hash the remote source locally")),
        ...(onEvent ? { onEvent } : {}),
      });
      const outcome = await runDestinationRole(port, {
        operation,
        dest,
        stats,
        dryRun,
        confirmDeletions: options.confirmDeletions ?? (() => Promise.resolve(true)),
        openData,
        prepareFileRoot: () => {
          if (!dryRun) {
            Deno.mkdirSync(target.slice(0, target.lastIndexOf("/")) || "/", { recursive: true });
          }
        },
      });
      remoteSummary = outcome.source;
      scanComplete = outcome.scanComplete;
      deletionsSkipped = outcome.deletionsSkipped;
      stats.sourcesRemoved = Number(remoteSummary.sourcesRemoved);
      for (const f of remoteSummary.failures) stats.fail(f.path, f.message);
      destinationText = target;
    }
    call.end();
    void scanComplete;
    stats.strategy = {
      transport: push ? "push" : "pull",
      data: accept.dataPort === 0
        ? "grpc"
        : fellBack
        ? "grpc-fallback"
        : `tcp x${accept.dataStreams}`,
    };
    if (push) stats.examined = Math.max(stats.examined, Number(remoteSummary.filesExamined));
    return summarize({
      operation,
      source: source.kind === "remote" ? source.text : source.path,
      destination: destinationText,
      stats,
      dryRun,
      deletionsSkipped,
    });
  } finally {
    client.close();
  }
}
