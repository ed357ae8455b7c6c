/**
 * Starts a real `blitd` for tests: a temp config, a free port on 127.0.0.1, `--no-mdns`; stopped
 * by its own process id.
 *
 * @module
 */

import { parseDaemonConfig } from "../core/config.ts";
import { computeDaemonPermissions } from "../daemon/permissions.ts";
import { REPO } from "./_helpers.ts";

/** A module to export. */
export interface TestModule {
  /** Module name. */
  name: string;
  /** Directory to export. */
  path: string;
  /** Read-only export. */
  readOnly?: boolean;
}

/** A running test daemon. */
export interface TestDaemon {
  /** The gRPC port. */
  port: number;
  /** `127.0.0.1:PORT` for remote paths. */
  address: string;
  /** Everything the daemon printed on stderr so far. */
  log: () => string;
  /** Whether the launcher process is still running. */
  running: () => boolean;
  /** Stops it (SIGTERM to the launcher, which stops the server) and waits. */
  stop: () => Promise<void>;
}

/** The flags of the `blitd` task, with relative paths made absolute. */
function launcherFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  return (config.tasks.blitd ?? "").split(/\s+/).filter((w) => w.startsWith("--"));
}

/**
 * Starts `blitd` with a temp config exporting `modules`.
 * @param dir A temp directory for the config.
 * @param modules The exports.
 * @param extra Extra `[daemon]` TOML lines.
 * @param env Extra environment for the launcher (e.g. `BLITD_SERVER_ENTRY` for a test build).
 * @returns The running daemon.
 */
export async function startDaemon(
  dir: string,
  modules: TestModule[],
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<TestDaemon> {
  const lines = ["[daemon]", 'bind = "127.0.0.1"', "port = 0", "no_mdns = true", ...extra];
  for (const m of modules) {
    lines.push("[[module]]", `name = "${m.name}"`, `path = "${m.path}"`);
    if (m.readOnly) lines.push("read_only = true");
  }
  const config = `${dir}/blitd-${crypto.randomUUID()}.toml`;
  await Deno.writeTextFile(config, lines.join("\n") + "\n");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...launcherFlags(), `${REPO}/daemon/main.ts`, "--config", config],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  let running = true;
  const status = child.status.then((s) => {
    running = false;
    return s;
  });
  let err = "";
  const errDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (c) => void (err += c) }),
  );
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + 30_000;
  let port = 0;
  while (port === 0) {
    if (Date.now() > deadline || !running) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      throw new Error(`blitd did not start:\n${out}\n${err}`);
    }
    const { value, done } = await reader.read();
    if (done) continue;
    out += value;
    const match = out.match(/blitd: listening on [^\s]+:(\d+)/);
    if (match) port = Number(match[1]);
  }
  const outDone = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  return {
    port,
    address: `127.0.0.1:${port}`,
    log: () => err,
    running: () => running,
    stop: async () => {
      if (running) {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await status;
      await Promise.allSettled([errDone, outDone]);
    },
  };
}

/**
 * Whether the daemon's computed sandbox allows `statfs` (needed by DiskFree).
 * @returns `true` when the server process may call statfs.
 */
export function daemonAllowsStatfs(): boolean {
  const config = parseDaemonConfig("[[module]]\nname = 'x'\npath = '/srv/x'\n");
  const flags = computeDaemonPermissions(config, {
    serverEntry: `${REPO}/daemon/server.ts`,
    repoRoot: REPO,
    mdns: false,
  });
  return flags.some((f) =>
    f === "--allow-sys" || (f.startsWith("--allow-sys=") && /statfs/.test(f))
  );
}
