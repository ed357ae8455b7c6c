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

/**
 * Starts `blitd` exporting `path` as `module`, with the permissions of the `blitd` task.
 * @param path Directory to export.
 * @param module Module name.
 * @returns The running daemon.
 * @throws {Error} When it does not report that it listens within 30 s.
 */
export async function startBlitDaemon(path: string, module: string): Promise<BlitDaemon> {
  const config = await Deno.makeTempFile({ prefix: "blit-bench-", suffix: ".toml" });
  await Deno.writeTextFile(
    config,
    `[daemon]\nbind = "127.0.0.1"\nport = 0\nno_mdns = true\n` +
      `[[module]]\nname = "${module}"\npath = "${path}"\n`,
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
