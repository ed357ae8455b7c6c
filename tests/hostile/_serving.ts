/**
 * The hostile-peer tests' common frame: a real daemon with one writable module, its server
 * process found and measured, and the check that it still serves the next client — a real push
 * through the real CLI, compared byte for byte.
 *
 * @module
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { startDaemon, type TestDaemon } from "../_daemon.ts";
import {
  blitTaskFlags,
  makeTree,
  readTree,
  REPO,
  type RunResult,
  testConfigHome,
  withTempDir,
} from "../_helpers.ts";
import { fdCount, findServerPid, isAlive, rssBytes, settle } from "./_process.ts";

/** A daemon under attack, and what the test measured before the attack. */
export interface Target {
  /** The temp directory of the test (the module is `DIR/mod`). */
  dir: string;
  /** The running daemon. */
  daemon: TestDaemon;
  /** The server process id. */
  server: number;
  /** Resident bytes of the server after one warm-up push. */
  baselineRss: number;
  /** Open descriptors of the server after one warm-up push. */
  baselineFds: number;
  /** Flags every CLI run against this daemon needs (`--no-tls` for a `tls = false` one). */
  clientArgs: string[];
}

/** Options of {@linkcode withTarget}. */
export interface TargetOptions {
  /** Extra `[daemon]` configuration lines. */
  extra?: string[];
  /** Flags every CLI run against the daemon needs (`--no-tls` with `tls = false`). */
  clientArgs?: string[];
}

/**
 * Starts a daemon exporting `DIR/mod` (writable by the test user), warms it up with one push
 * (so the baseline includes the code a push loads), measures it, runs `fn`, then stops it.
 *
 * @example Usage
 * ```ts ignore
 * await withTarget(async (t) => {
 *   // attack t.daemon, then:
 *   await assertRecovered(t, "after the flood");
 * });
 * ```
 *
 * @param fn The attack and its checks.
 * @param options Extra configuration.
 */
export async function withTarget(
  fn: (target: Target) => Promise<void>,
  options: TargetOptions = {},
): Promise<void> {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/mod`);
    const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }], options.extra);
    const clientArgs = options.clientArgs ?? [];
    try {
      const server = await findServerPid(daemon.pid);
      await assertServesPush({ dir, daemon, clientArgs }, "warm-up");
      // Let the warm-up's buffers go back before the baseline is read.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const target: Target = {
        dir,
        daemon,
        server,
        baselineRss: rssBytes(server),
        baselineFds: fdCount(server),
        clientArgs,
      };
      await fn(target);
    } finally {
      await daemon.stop();
    }
  });
}

let pushes = 0;

/**
 * Runs the real `blit` CLI as the task does, killed (SIGKILL) after `timeoutMs`.
 *
 * @example Usage
 * ```ts ignore
 * const r = await runBlitWithin(["copy", "./src/", `${address}:/mod/x/`], 30_000);
 * ```
 *
 * @param args CLI arguments.
 * @param timeoutMs Longest run.
 * @returns Exit code and output; `code` is -1 when it was killed for taking too long.
 */
export async function runBlitWithin(args: string[], timeoutMs: number): Promise<RunResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...blitTaskFlags(), `${REPO}/cli/main.ts`, ...args],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_CONFIG_HOME: testConfigHome() },
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, timeoutMs);
  try {
    const { code, stdout, stderr } = await child.output();
    const decoder = new TextDecoder();
    return {
      code: killed ? -1 : code,
      stdout: decoder.decode(stdout),
      stderr: (killed ? `(killed after ${timeoutMs} ms) ` : "") + decoder.decode(stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Pushes a small tree (a 3 MiB file, a few small ones) through the real CLI into a fresh
 * directory of the module and compares every byte.
 *
 * @example Usage
 * ```ts ignore
 * await assertServesPush(target, "after the attack");
 * ```
 *
 * @param target Where the daemon and the module are.
 * @param label Named in failures.
 * @param args Extra CLI flags (e.g. `--force-grpc`).
 */
export async function assertServesPush(
  target: { dir: string; daemon: TestDaemon; clientArgs?: string[] },
  label: string,
  args: string[] = [],
): Promise<void> {
  const n = ++pushes;
  const src = `${target.dir}/src-${n}`;
  const big = new Uint8Array(3 * 1024 * 1024 + 11);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096 + n) & 0xff;
  await makeTree(src, {
    "big.bin": big,
    "a.txt": `push ${n}`,
    "sub/b.txt": "b".repeat(5000),
    "sub/c.txt": "",
  });
  const r = await runBlitWithin(
    [
      "copy",
      `${src}/`,
      `${target.daemon.address}:/mod/push-${n}/`,
      ...(target.clientArgs ?? []),
      ...args,
    ],
    60_000,
  );
  equal(r.code, 0, `${label}: the push failed (exit ${r.code}): ${r.stderr}`);
  deepStrictEqual(
    await readTree(`${target.dir}/mod/push-${n}`),
    await readTree(src),
    `${label}: the pushed tree differs`,
  );
}

/**
 * Checks that the daemon survived and went back to its baseline: the server process is the
 * same one and alive, it serves a real push, its descriptors come back to the baseline (plus
 * `fdMargin`) and its resident memory to the baseline plus `rssMarginBytes`.
 *
 * @example Usage
 * ```ts ignore
 * await assertRecovered(target, "after the flood", { rssMarginBytes: 64 << 20 });
 * ```
 *
 * @param target The daemon and its baseline.
 * @param label Named in failures.
 * @param margins Allowed growth.
 * @returns What was measured at the end.
 */
export async function assertRecovered(
  target: Target,
  label: string,
  margins: { fdMargin?: number; rssMarginBytes?: number; settleMs?: number } = {},
): Promise<{ rss: number; fds: number }> {
  const { fdMargin = 4, rssMarginBytes = 96 * 1024 * 1024, settleMs = 15_000 } = margins;
  ok(target.daemon.running(), `${label}: the launcher exited:\n${target.daemon.log()}`);
  ok(
    isAlive(target.server),
    `${label}: the server process ${target.server} died (was it restarted?):\n${target.daemon.log()}`,
  );
  await assertServesPush(target, label);
  const fds = await settle(
    () => fdCount(target.server),
    (n) => n <= target.baselineFds + fdMargin,
    settleMs,
  );
  ok(
    fds <= target.baselineFds + fdMargin,
    `${label}: the server holds ${fds} descriptors, baseline ${target.baselineFds} (+${fdMargin} allowed)`,
  );
  const rss = await settle(
    () => rssBytes(target.server),
    (n) => n <= target.baselineRss + rssMarginBytes,
    settleMs,
  );
  ok(
    rss <= target.baselineRss + rssMarginBytes,
    `${label}: the server's RSS is ${mib(rss)} MiB, baseline ${mib(target.baselineRss)} MiB (+${
      mib(rssMarginBytes)
    } allowed)`,
  );
  ok(isAlive(target.server), `${label}: the server process died`);
  return { rss, fds };
}

/**
 * Bytes as MiB with one decimal, for messages.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { mib } from "./_serving.ts";
 * strictEqual(mib(3 * 1024 * 1024), "3.0");
 * ```
 *
 * @param bytes A byte count.
 * @returns The text.
 */
export function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
