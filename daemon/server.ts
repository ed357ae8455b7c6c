/**
 * The daemon's server process: started by the `blitd` launcher with permission flags computed
 * from the configuration, it serves the gRPC control plane and the TCP data plane.
 *
 * Contract with the launcher: `server.ts --config-json JSON`; prints
 * `blitd: listening on HOST:PORT` once serving; exits 0 on SIGTERM/SIGINT, 78 when the
 * configuration can never work (e.g. the port is taken).
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { DaemonConfig } from "../core/config.ts";
import { AddressRules } from "../core/cidr.ts";
import { loadOrCreateServerCertificate } from "../core/tls_cert.ts";
import { ConnectionGate } from "../core/transport/connection_gate.ts";
import { describeError } from "../core/errors.ts";
import { DataPlaneListener } from "../core/transport/data_plane.ts";
import { listenFiltered } from "../core/transport/goaway_filter.ts";
import {
  BLIT_SERVICE,
  type BlitServer,
  blitServerOptions,
} from "../core/transport/grpc_service.ts";
import { createAdminHandlers } from "./admin_rpc.ts";
import { AuditLog } from "./audit_log.ts";
import { Authority } from "./authority.ts";
import { CONFIG_JSON_FLAG, parseServerConfig } from "./args.ts";
import { handleTransfer, type TransferRpcContext } from "./transfer_rpc.ts";
import { EXIT_NO_RESTART } from "./supervisor.ts";
import { type MdnsAdvertiser, startMdnsAdvertiser } from "./mdns.ts";

/** A running daemon server. */
export interface RunningServer {
  /** The gRPC port actually bound. */
  port: number;
  /** `SHA256:…` of the TLS certificate, or `null` without TLS. */
  fingerprint: string | null;
  /** Stops serving. */
  stop(): Promise<void>;
}

/**
 * Starts the gRPC server and the data plane for `config`.
 * @param config The resolved configuration.
 * @param options Where log lines go, and a test hook that replaces the modules' trees.
 * @returns The running server.
 */
export async function startServer(
  config: DaemonConfig,
  options: Pick<TransferRpcContext, "openTree"> & { log?: (line: string) => void } = {},
): Promise<RunningServer> {
  const log = options.log ?? ((line: string) => console.error(line));
  const openTree = options.openTree;
  const tls = config.tls
    ? await loadOrCreateServerCertificate(config.stateDir, {
      certPath: config.tlsCert,
      keyPath: config.tlsKey,
    })
    : null;
  if (tls?.generated) log(`blitd: generated a TLS certificate in ${config.stateDir}/tls`);
  const authority = new Authority(config, tls?.fingerprint ?? "");
  const audit = await AuditLog.open(config.auditLog, log);
  const rules = new AddressRules(config.hostsAllow, config.hostsDeny);
  const allowed = (address: string): boolean => rules.allows(address);
  const gate = new ConnectionGate({
    allowed,
    maxConnections: config.maxConnections,
    maxPerHost: config.maxConnectionsPerHost,
    onRefused: (address, reason) =>
      log(`${new Date().toISOString()} ${address}: refused: ${reason}`),
  });
  const dataPlane = config.forceGrpcData ? null : DataPlaneListener.listen(
    config.bind === "localhost" ? "127.0.0.1" : config.bind,
    { allowed, tls: tls && { cert: tls.certPem, key: tls.keyPem } },
  );
  const server = new grpc.Server(blitServerOptions());
  const helloDone = (peer: string): void => gate.helloDone(peer);
  const context = { config, log, authority, audit, helloDone };
  const handlers: BlitServer = {
    transfer: (call) => {
      handleTransfer(call, { ...context, dataPlane, ...(openTree ? { openTree } : {}) }).catch(
        (error) => {
          log(`blitd: transfer failed: ${describeError(error)}`);
        },
      );
    },
    ...createAdminHandlers(context),
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
  });
  const mdns = config.noMdns ? null : await advertise(config, port, log);
  return {
    port,
    fingerprint: tls?.fingerprint ?? null,
    stop: async () => {
      const goodbye = mdns?.stop();
      await new Promise<void>((resolve) => {
        dataPlane?.close();
        listener.close();
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
      });
      audit.close();
      await goodbye;
    },
  };
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

/**
 * Runs the server process: reads the config argument, serves until SIGTERM/SIGINT.
 * @param options Test hooks (see {@linkcode startServer}).
 * @returns The exit code.
 */
export async function serverMain(
  options: Parameters<typeof startServer>[1] = {},
): Promise<number> {
  const at = Deno.args.indexOf(CONFIG_JSON_FLAG);
  const text = at >= 0 ? Deno.args[at + 1] : undefined;
  if (text === undefined) {
    console.error(`blitd: Cannot start the server: missing ${CONFIG_JSON_FLAG}`);
    return EXIT_NO_RESTART;
  }
  let config: DaemonConfig;
  try {
    config = parseServerConfig(text);
  } catch (error) {
    console.error(`blitd: ${describeError(error)}`);
    return EXIT_NO_RESTART;
  }
  let running: RunningServer;
  try {
    running = await startServer(config, options);
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
