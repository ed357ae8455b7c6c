/**
 * Starts a real `blitd` for the remote benchmark: one read-write module on 127.0.0.1, a free
 * port, no mDNS; stopped by its own process id.
 *
 * @module
 */

const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** A running benchmark daemon. */
export interface BlitDaemon {
  /** `127.0.0.1:PORT`. */
  address: string;
  /** The launcher's process id. */
  pid: number;
  /** Stops it (SIGTERM) and waits. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startBlitDaemon}. */
export interface BlitDaemonOptions {
  /**
   * TLS on both planes (the daemon's default).
   * @default {true}
   */
  tls?: boolean;
  /**
   * The daemon's `confinement` (`auto`: a mount namespace when bubblewrap works here).
   * @default {"auto"}
   */
  confinement?: "auto" | "namespace" | "none";
}

/**
 * Starts `blitd` exporting `path` as `module`, with the permissions of the `blitd` task. The
 * module belongs to a user whose key is made for this run and becomes this process's default
 * identity (`XDG_CONFIG_HOME` is pointed at a fresh directory, so the `blit` commands the bench
 * runs sign in with it and pin the daemon's certificate there).
 * @param path Directory to export.
 * @param module Module name.
 * @param options TLS on or off, and the confinement.
 * @returns The running daemon.
 * @throws {Error} When it does not report that it listens within 30 s.
 */
export async function startBlitDaemon(
  path: string,
  module: string,
  options: BlitDaemonOptions = {},
): Promise<BlitDaemon> {
  const { tls = true, confinement = "auto" } = options;
  const { writeIdentity } = await import("../core/identity.ts");
  const home = Deno.env.get("BLIT_BENCH_HOME") ??
    await Deno.makeTempDir({ prefix: "blit-bench-home-" });
  Deno.env.set("BLIT_BENCH_HOME", home);
  Deno.env.set("XDG_CONFIG_HOME", home);
  const keyPath = `${home}/blit/id_ed25519`;
  // One key for every daemon of this run.
  const publicLine = await Deno.readTextFile(`${keyPath}.pub`).then((t) => t.trim()).catch(
    async () => (await writeIdentity(keyPath, { comment: "bench" })).publicLine,
  );
  const config = await Deno.makeTempFile({ prefix: "blit-bench-", suffix: ".toml" });
  await Deno.writeTextFile(
    config,
    `[daemon]\nbind = "127.0.0.1"\nport = 0\nno_mdns = true\ntls = ${tls}\n` +
      `confinement = "${confinement}"\n` +
      `state_dir = "${home}/state"\n` +
      `[[user]]\nname = "bench"\npublic_key = "${publicLine}"\n` +
      `[[module]]\nname = "${module}"\npath = "${path}"\nusers = ["bench"]\n`,
  );
  const tasks = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/deno.json`)).tasks as Record<
    string,
    string
  >;
  const flags = (tasks.blitd ?? "").split(/\s+/).filter((w) => w.startsWith("--"));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${REPO_ROOT}/daemon/main.ts`, "--config", config],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + 30_000;
  let port = 0;
  while (port === 0 && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
    port = Number(out.match(/blitd: listening on [^\s]+:(\d+)/)?.[1] ?? 0);
  }
  const drained = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe empty */ }
  })();
  const stop = async (): Promise<void> => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await drained.catch(() => {});
    await Deno.remove(config).catch(() => {});
  };
  if (port === 0) {
    await stop();
    throw new Error(`Cannot start blitd for the benchmark: ${out.trim() || "no output"}`);
  }
  return { address: `127.0.0.1:${port}`, pid: child.pid, stop };
}
