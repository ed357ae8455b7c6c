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
import { create } from "@bufbuild/protobuf";
import { ListModulesResponseSchema, ModuleInfoSchema } from "../proto/gen/blit_pb.ts";
import type { DaemonConfig } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import { DataPlaneListener } from "../core/transport/data_plane.ts";
import { listenFiltered } from "../core/transport/goaway_filter.ts";
import {
  BLIT_SERVICE,
  type BlitServer,
  blitServerOptions,
} from "../core/transport/grpc_service.ts";
import { createAdminHandlers } from "./admin_rpc.ts";
import { CONFIG_JSON_FLAG, parseServerConfig } from "./args.ts";
import { handleTransfer, type TransferRpcContext } from "./transfer_rpc.ts";
import { EXIT_NO_RESTART } from "./supervisor.ts";
import { type MdnsAdvertiser, startMdnsAdvertiser } from "./mdns.ts";

/** A running daemon server. */
export interface RunningServer {
  /** The gRPC port actually bound. */
  port: number;
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
  const dataPlane = config.forceGrpcData
    ? null
    : DataPlaneListener.listen(config.bind === "localhost" ? "127.0.0.1" : config.bind);
  const server = new grpc.Server(blitServerOptions());
  const handlers: BlitServer = {
    transfer: (call) => {
      handleTransfer(call, { config, dataPlane, log, ...(openTree ? { openTree } : {}) }).catch(
        (error) => {
          log(`blitd: transfer failed: ${describeError(error)}`);
        },
      );
    },
    listModules: (_call, callback) => {
      const modules = config.modules.map((m) =>
        create(ModuleInfoSchema, { name: m.name, readOnly: m.readOnly, comment: m.comment })
      );
      callback(null, create(ListModulesResponseSchema, { modules }));
    },
    ...createAdminHandlers({ config, log }),
  };
  server.addService(BLIT_SERVICE, handlers);
  // Connections are accepted here and passed to grpc-js through a filter that drops the
  // client's HTTP/2 GOAWAY: under Deno a graceful client close can otherwise abort the whole
  // server process (denoland/deno#36788; see README).
  const { listener, port } = await listenFiltered(server, grpc.ServerCredentials.createInsecure(), {
    hostname: config.bind,
    port: config.port,
  });
  const mdns = config.noMdns ? null : await advertise(config, port, log);
  return {
    port,
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
