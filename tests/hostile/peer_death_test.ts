/**
 * Issue #11, row 3: a client that dies mid-push must not leave its session handler hung. The
 * review's reproduction: `kill -9` (or SIGINT) of the client at 100 MB left the handler waiting
 * in `sendRaw` for a `drain` that never came; with `--force-grpc` the temporary's descriptor
 * stayed open (+1 descriptor per aborted session).
 *
 * Here the real CLI pushes a 2 GiB (sparse) file and is killed once the daemon's temporary holds
 * 32 MiB: by SIGKILL over the data plane, by SIGKILL with `--force-grpc`, and by SIGINT. What
 * must hold each time, within {@linkcode TEARDOWN_MS}: the daemon ends the session (its audit
 * line says the push failed), the temporary is closed and released (a large file's partial file
 * stays for the next run to resume, unlocked: see `temporaryVerdict`), and the server's
 * descriptors are back to the baseline; at the end it serves a real push, with memory back to
 * the baseline.
 *
 * @module
 */

import { ok } from "node:assert/strict";
import { blitTaskFlags, REPO, testConfigHome } from "../_helpers.ts";
import { assertRecovered, type Target, withTarget } from "./_serving.ts";
import { fdCount, settle } from "./_process.ts";
import { inspectTemporaryAt } from "../../core/tree.ts";

/** Bytes in the daemon's temporary when the client is killed. */
const KILL_AT = 32 * 1024 * 1024;
/** How long the daemon may take to tear the session down. */
const TEARDOWN_MS = 15_000;

/**
 * The daemon's temporaries under `dir` (recursive), with their sizes; a partial file (kept for
 * the next run to resume) only while a process still holds it.
 */
function temporaries(dir: string, heldPartials = true): { path: string; size: number }[] {
  const found: { path: string; size: number }[] = [];
  const walk = (at: string): void => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(at)];
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = `${at}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.name.startsWith(".blit-tmp-")) {
        try {
          found.push({ path, size: Deno.statSync(path).size });
        } catch { /* renamed or removed meanwhile */ }
      } else if (entry.name.startsWith(".blit-partial-")) {
        try {
          const facts = inspectTemporaryAt(path);
          if (facts && (heldPartials || facts.locked)) found.push({ path, size: facts.size });
        } catch { /* renamed or removed meanwhile */ }
      }
    }
  };
  walk(dir);
  return found;
}

/**
 * Starts a push of `file` into `mod/<name>/`, kills the client with `signal` once the daemon's
 * temporary holds {@linkcode KILL_AT} bytes, and checks the teardown.
 */
async function killMidPush(
  target: Target,
  file: string,
  name: string,
  signal: Deno.Signal,
  flags: string[],
): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...blitTaskFlags(),
      `${REPO}/cli/main.ts`,
      "copy",
      file,
      `${target.daemon.address}:/mod/${name}/`,
      ...flags,
    ],
    cwd: REPO,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_CONFIG_HOME: testConfigHome() },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const into = `${target.dir}/mod/${name}`;
  const spawned = performance.now();
  const reached = await settle(
    () => temporaries(into).reduce((n, t) => Math.max(n, t.size), 0),
    (size) => size >= KILL_AT,
    30_000,
    10,
  );
  const transferMs = performance.now() - spawned;
  child.kill(signal);
  const killed = performance.now();
  const status = await child.status;
  const said = await stderr;
  ok(reached >= KILL_AT, `${name}: the push never got to ${KILL_AT} bytes: ${said}`);
  ok(!status.success, `${name}: the client finished before it was killed`);

  const line = new RegExp(` push mod:/${name}/ (failed|partial)`);
  const ended = await settle(() => line.test(target.daemon.log()), (v) => v, TEARDOWN_MS, 50);
  const teardownMs = performance.now() - killed;
  // An in-flight temporary goes; a partial file stays for the next run, released.
  const left = await settle(() => temporaries(into, false), (t) => t.length === 0, 3000);
  const fds = await settle(
    () => fdCount(target.server),
    (n) => n <= target.baselineFds + 2,
    3000,
  );
  const problems: string[] = [];
  if (!ended) problems.push(`no audit line says the push ended (handler hung)`);
  if (left.length > 0) {
    problems.push(`temporaries left: ${left.map((t) => `${t.path} (${t.size} bytes)`).join(", ")}`);
  }
  if (fds > target.baselineFds + 2) {
    problems.push(`the server holds ${fds} descriptors, baseline ${target.baselineFds} (+2)`);
  }
  console.log(
    `${name}: killed (${signal}) at ${reached} bytes after ${Math.round(transferMs)} ms; ` +
      `handler ended: ${ended ? `yes, ${Math.round(teardownMs)} ms after the kill` : "no"}; ` +
      `temporaries left: ${left.length}; fds ${fds} (baseline ${target.baselineFds})`,
  );
  ok(problems.length === 0, `${name} (${signal}${flags.join(" ")}): ${problems.join("; ")}`);
}

Deno.test({
  name: "hostile: a client killed mid-push leaves no hung handler, temporary or descriptor",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await withTarget(async (target) => {
      const file = `${target.dir}/huge.bin`;
      await Deno.writeFile(file, new Uint8Array(0));
      await Deno.truncate(file, 2 * 1024 * 1024 * 1024);
      const cases: { name: string; signal: Deno.Signal; flags: string[] }[] = [
        { name: "kill9-data", signal: "SIGKILL", flags: [] },
        { name: "kill9-grpc", signal: "SIGKILL", flags: ["--force-grpc"] },
        { name: "sigint-data", signal: "SIGINT", flags: [] },
      ];
      const failures: string[] = [];
      for (const c of cases) {
        const passed = await t.step(
          `${c.signal} ${c.flags.join(" ") || "(data plane)"}`,
          () => killMidPush(target, file, c.name, c.signal, c.flags),
        );
        if (!passed) failures.push(c.name);
      }
      await Deno.remove(file);
      ok(failures.length === 0, `failed: ${failures.join(", ")}`);
      // Since the delta and resume work the server settles ~60 MiB higher after these pushes
      // (225 MiB after 3 killed pushes, 233 MiB after 9, baseline 99 MiB: a plateau, not a
      // growth per kill); the margin is a leak detector, so it allows that one-time growth.
      await assertRecovered(target, "after the killed pushes", {
        rssMarginBytes: 160 * 1024 * 1024,
      });
    });
  },
});
