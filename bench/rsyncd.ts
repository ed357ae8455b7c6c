/**
 * Starts a throw-away rsync daemon on 127.0.0.1 for the remote benchmarks.
 *
 * The bench runs without `--allow-net`, so the port is chosen at random, a failed bind is noticed
 * because the daemon exits, and readiness is probed with the rsync client itself.
 *
 * @module
 */

import { findInPath, removeTree, runQuiet } from "./system.ts";

/** A running daemon. */
export interface RsyncDaemon {
  /** Port it listens on (127.0.0.1 only). */
  port: number;
  /** Module name. */
  module: string;
  /** Process id of the daemon. */
  pid: number;
  /** Stops the daemon (SIGTERM to its PID), waits for it and removes its temp directory. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startRsyncDaemon}. */
export interface RsyncDaemonOptions {
  /**
   * Module name.
   * @default {"bench"}
   */
  module?: string;
  /**
   * Whether the module refuses writes.
   * @default {false}
   */
  readOnly?: boolean;
  /**
   * Seconds to wait for the daemon to accept connections.
   * @default {5}
   */
  timeoutSeconds?: number;
}

/**
 * Builds the daemon's configuration file.
 * @param path Directory the module exports.
 * @param module Module name.
 * @param readOnly Whether the module refuses writes.
 * @param logFile Log file path.
 * @returns The text of rsyncd.conf.
 */
export function rsyncdConfig(
  path: string,
  module: string,
  readOnly: boolean,
  logFile: string,
): string {
  return [
    `log file = ${logFile}`,
    "use chroot = no",
    "munge symlinks = no",
    "uid = root",
    "gid = root",
    "max connections = 16",
    "",
    `[${module}]`,
    `  path = ${path}`,
    `  read only = ${readOnly ? "yes" : "no"}`,
    "  list = yes",
    "",
  ].join("\n");
}

async function waitReady(
  rsync: string,
  port: number,
  exited: Promise<Deno.CommandStatus>,
  timeoutSeconds: number,
): Promise<boolean> {
  let done = false;
  exited.then(() => (done = true), () => (done = true));
  const deadline = performance.now() + timeoutSeconds * 1000;
  while (performance.now() < deadline) {
    if (done) return false;
    const probe = await runQuiet(rsync, ["--contimeout=1", `rsync://127.0.0.1:${port}/`]);
    if (probe.code === 0) return true;
    if (done) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/**
 * Starts `rsync --daemon --no-detach` on 127.0.0.1 with a temporary config exporting `path`
 * as a module (read-write unless `readOnly`, `use chroot = no`, running as root).
 * Requires `--allow-run`, `--allow-read`, `--allow-write` and `--allow-env`.
 * @param path Directory to export.
 * @param options Module name, read-only flag and start-up timeout.
 * @throws {Error} If rsync is not installed or the daemon does not start.
 * @returns The port and a `stop()` function.
 * @example Usage
 * ```ts ignore
 * const daemon = await startRsyncDaemon("/tmp/blit-bench/quick");
 * try {
 *   // rsync -a src/ rsync://127.0.0.1:${daemon.port}/bench/dst/
 * } finally {
 *   await daemon.stop();
 * }
 * ```
 */
export async function startRsyncDaemon(
  path: string,
  options: RsyncDaemonOptions = {},
): Promise<RsyncDaemon> {
  const { module = "bench", readOnly = false, timeoutSeconds = 5 } = options;
  const rsync = await findInPath("rsync");
  if (rsync === undefined) throw new Error("Cannot start rsync daemon: rsync is not on PATH");
  const tmp = await Deno.makeTempDir({ prefix: "blit-bench-rsyncd-" });
  const conf = `${tmp}/rsyncd.conf`;
  await Deno.writeTextFile(conf, rsyncdConfig(path, module, readOnly, `${tmp}/rsyncd.log`));
  // Seeded from the clock, not Math.random: only the port choice varies between runs.
  let candidate = 20000 + (Math.floor(performance.timeOrigin) % 40000);
  for (let attempt = 0; attempt < 8; attempt++) {
    const port = 20000 + ((candidate + attempt * 7919) % 40000);
    const child = new Deno.Command(rsync, {
      args: [
        "--daemon",
        "--no-detach",
        `--config=${conf}`,
        `--port=${port}`,
        "--address=127.0.0.1",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    if (await waitReady(rsync, port, child.status, timeoutSeconds)) {
      const pid = child.pid;
      return {
        port,
        module,
        pid,
        stop: async () => {
          try {
            child.kill("SIGTERM");
          } catch {
            // Already gone.
          }
          await child.status;
          await removeTree(tmp);
        },
      };
    }
    try {
      child.kill("SIGTERM");
    } catch {
      // It exited by itself (port in use).
    }
    await child.status;
    candidate += 1;
  }
  let log = "";
  try {
    log = (await Deno.readTextFile(`${tmp}/rsyncd.log`)).trim().split("\n").slice(-3).join(" ");
  } catch {
    // No log.
  }
  await removeTree(tmp);
  throw new Error(`Cannot start rsync daemon: no port accepted connections: ${log}`);
}
