/**
 * Issue #11, "deep trees cost cubic CPU and block every client": a push of a chain of 1,000
 * one-letter directories must finish within seconds (it took 55 s when every directory was
 * checked by a walk from the module root), other clients must be served meanwhile, and paths
 * over the limits (1,024 levels, 4,096 bytes) are refused with one clear line, by the daemon on
 * a push and by the client on a pull.
 *
 * The daemon runs with `confinement = "none"`: what is measured is the containment code itself.
 *
 * @module
 */

import { equal, match, ok } from "node:assert/strict";
import { Operation, Role } from "../../proto/gen/blit_pb.ts";
import type { Frame } from "../../core/session/frames.ts";
import { MAX_WIRE_PATH_BYTES, MAX_WIRE_PATH_DEPTH } from "../../core/paths.ts";
import { openRawSession, startDaemon, type TestDaemon } from "../_daemon.ts";
import { assertNoStack, runBlit, type RunResult, withTempDir } from "../_helpers.ts";

/** The chain the issue measured (55 s before the fix). */
const DEPTH = 1000;
/** What the deep push may take on a loaded 2-core machine (about 3 s measured here). */
const DEEP_PUSH_LIMIT_MS = 20_000;
/** What a small push or a list may take while the deep push runs. */
const SIDE_LIMIT_MS = 15_000;
const T = Date.UTC(2024, 0, 2, 3, 4, 5);

/** Makes `depth` nested directories named `a` under `base`, with `leaf` holding `text`. */
function makeChain(base: string, depth: number, text: string): string {
  const rel = Array(depth).fill("a").join("/");
  Deno.mkdirSync(`${base}/${rel}`, { recursive: true });
  Deno.writeTextFileSync(`${base}/${rel}/leaf.txt`, text);
  return rel;
}

/** Runs the CLI and times it. */
async function timed(args: string[]): Promise<RunResult & { ms: number }> {
  const started = performance.now();
  const result = await runBlit(args);
  return { ...result, ms: performance.now() - started };
}

/** The one line a refused run printed (its last non-empty line). */
function oneLine(result: RunResult): string {
  assertNoStack(result.stderr);
  const lines = result.stderr.split("\n").filter((line) => line.trim() !== "");
  equal(lines.length, 1, `one line on stderr:\n${result.stderr}`);
  return lines[0] as string;
}

async function withDaemon(fn: (dir: string, daemon: TestDaemon) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/mod`);
    const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }], [
      'confinement = "none"',
    ]);
    try {
      await fn(dir, daemon);
    } finally {
      await daemon.stop();
    }
  });
}

Deno.test({
  name: "deep tree: a 1,000-level push takes seconds, and other clients are served meanwhile",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withDaemon(async (dir, daemon) => {
      const rel = makeChain(`${dir}/deep`, DEPTH, "at the bottom");
      await Deno.mkdir(`${dir}/small`);
      await Deno.writeTextFile(`${dir}/small/one.txt`, "one");
      await Deno.writeTextFile(`${dir}/small/two.txt`, "two");

      const deep = timed(["copy", `${dir}/deep/`, `${daemon.address}:/mod/deep/`]);
      let deepDone = false;
      deep.finally(() => deepDone = true);
      // Once the daemon is inside the chain, two other clients come.
      while (!deepDone) {
        try {
          await Deno.lstat(`${dir}/mod/deep/a/a`);
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      const overlapped = !deepDone;
      const [list, small] = await Promise.all([
        timed(["list", `${daemon.address}:/mod/`]),
        timed(["copy", `${dir}/small/`, `${daemon.address}:/mod/small/`]),
      ]);
      const pushed = await deep;
      console.log(
        `depth ${DEPTH}: push ${(pushed.ms / 1000).toFixed(2)} s; meanwhile ` +
          `(${overlapped ? "overlapping" : "the push was already done"}) list ` +
          `${(list.ms / 1000).toFixed(2)} s, small push ${(small.ms / 1000).toFixed(2)} s`,
      );
      equal(pushed.code, 0, pushed.stderr);
      ok(
        pushed.ms < DEEP_PUSH_LIMIT_MS,
        `the deep push took ${pushed.ms.toFixed(0)} ms (limit ${DEEP_PUSH_LIMIT_MS})`,
      );
      equal(await Deno.readTextFile(`${dir}/mod/deep/${rel}/leaf.txt`), "at the bottom");
      equal(list.code, 0, list.stderr);
      match(list.stdout, /deep\//);
      ok(list.ms < SIDE_LIMIT_MS, `the list took ${list.ms.toFixed(0)} ms`);
      equal(small.code, 0, small.stderr);
      ok(small.ms < SIDE_LIMIT_MS, `the small push took ${small.ms.toFixed(0)} ms`);
      equal(await Deno.readTextFile(`${dir}/mod/small/two.txt`), "two");
    });
  },
});

Deno.test({
  name: "deep tree: paths over the limits are refused with one line, on a push and on a pull",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await withDaemon(async (dir, daemon) => {
      const tooDeep = MAX_WIRE_PATH_DEPTH + 6;

      await t.step(
        `a push deeper than ${MAX_WIRE_PATH_DEPTH} levels: the daemon refuses`,
        async () => {
          makeChain(`${dir}/over`, tooDeep, "too deep");
          const r = await timed(["copy", `${dir}/over/`, `${daemon.address}:/mod/over/`]);
          equal(r.code, 1, r.stderr);
          match(oneLine(r), /Cannot use path "a\/a\/a.*": it is deeper than 1024 levels$/);
          ok(!r.stderr.includes(dir), "the error names no local path");
        },
      );

      await t.step(
        `a pull of a module path deeper than ${MAX_WIRE_PATH_DEPTH}: the client refuses`,
        async () => {
          makeChain(`${dir}/mod/held`, tooDeep, "held too deep");
          const r = await timed(["copy", `${daemon.address}:/mod/held/`, `${dir}/pulled/`]);
          equal(r.code, 1, r.stderr);
          match(oneLine(r), /Cannot use path "a\/a\/a.*": it is deeper than 1024 levels$/);
          // Nothing deeper than the limit was written.
          const limit = Array(MAX_WIRE_PATH_DEPTH).fill("a").join("/");
          const deeper = await Deno.lstat(`${dir}/pulled/${limit}/a`).then(() => true, () => false);
          ok(!deeper, "nothing below the limit was written");
        },
      );

      await t.step(
        `a path longer than ${MAX_WIRE_PATH_BYTES} bytes from a raw client`,
        async () => {
          const long = Array(20).fill("b".repeat(250)).join("/");
          const frames = await rawPush(daemon, long);
          const abort = frames.find((f) => f.type === "abort");
          ok(abort?.type === "abort", JSON.stringify(frames.map((f) => f.type)));
          match(abort.abort.message, /^Cannot use path "b+…": it is longer than 4096 bytes$/);
        },
      );

      await t.step("the daemon still serves", async () => {
        ok(daemon.running(), daemon.log());
        const r = await timed(["list", `${daemon.address}:/mod/`]);
        equal(r.code, 0, r.stderr);
      });
    });
  },
});

/**
 * A raw client pushing a group whose directory is `dir` (sent as is: the sending side does not
 * check); returns the frames the daemon sent back until it ended the session.
 */
async function rawPush(daemon: TestDaemon, dir: string): Promise<Frame[]> {
  const { client, call, port, open } = await openRawSession(daemon.address);
  const seen: Frame[] = [];
  try {
    await open({
      role: Role.DESTINATION,
      module: "mod",
      path: "",
      operation: Operation.COPY,
      forceGrpcData: true,
    });
    const accept = await port.nextRaw(10_000);
    equal(accept?.case, "accept");
    const entry = { path: "", kind: "dir" as const, size: 0, mtimeMs: T, mode: 0o755 };
    await port.send({ type: "root", root: { entry, name: "src", contentsOnly: true } });
    await port.send({
      type: "manifest",
      groups: [{ dir, entries: [], complete: true }],
    });
    while (true) {
      const frame = await port.next(10_000).catch(() => null);
      if (frame === null) break;
      seen.push(frame);
      if (frame.type === "abort" || frame.type === "summary") break;
    }
    call.end();
    return seen;
  } finally {
    client.close();
  }
}
