/**
 * A peer that lies is refused, in both directions. Regression tests for the holes a review
 * playing a hostile peer found in the previous engine (commit 308308e), run through the real
 * CLI and the real daemon, each against a minimal fake peer that speaks session frames.
 *
 * Pulls from a FAKE DAEMON (a grpc-js server in this process; the real `blit` pulls from it):
 *
 * 1. The root's name is `../../victim`, or has a slash (`a/b`): the CLI would place the root
 *    outside its destination, and a mirror would delete there.
 * 2. An entry `evil` is announced as a symlink to an outside directory, then a manifest group
 *    with `dir: "evil"` follows (rsync's CVE-2024-12087 class): the CLI would write through it.
 * 3. A group for a directory never announced, named like a symlink someone else planted inside
 *    the destination; a group whose entries are not its children; an entry path with `..`.
 * 4. A symlink planted inside the destination (pointing outside) is announced as a directory
 *    and files are sent into it: the CLI must replace the link with a real directory (as rsync
 *    does) and never write through it.
 *
 * What must hold for every lie (copy and mirror `--yes` alike): exit code 1, one line on
 * stderr and no stack trace, the outside directory byte-for-byte unchanged (its files, one that
 * a mirror would delete included), not even a temporary created in it meanwhile (a file watcher
 * looks), nothing written outside the destination, and the destination holding exactly what is
 * stated. Case 4 must succeed (exit 0) with the link replaced.
 *
 * Pushes to a REAL DAEMON whose writable module holds `lnk`, a symlink to an outside directory
 * that holds a file and a `.blit-tmp-…` decoy (a stale temporary the destination would remove):
 *
 * 5. The real CLI pushes a tree with a directory `lnk`: the daemon replaces the link.
 * 6. A FAKE CLIENT sends a group `dir: "lnk"` without announcing `lnk` (refused), announces
 *    `lnk` as a symlink then sends the group (refused), or announces it as a directory and sends
 *    files, by copy and by mirror (the link is replaced).
 *
 * What must hold: nothing outside changes, even briefly (the decoy survives; a file watcher
 * looks), the module's other content is intact, no frame sent to the client (failure lists
 * included), CLI output or daemon log line names the outside directory, its entries or where
 * the module lives, and the daemon still serves a normal push afterwards.
 *
 * The fake peers live in `_fake_daemon.ts`; `lying_daemon_test.ts` and `lying_client_test.ts`
 * hold the tables of other lies (paths, duplicates, sizes, frames out of order, counts, deaths).
 *
 * @module
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { Operation, Role } from "../../proto/gen/blit_pb.ts";
import type { Frame } from "../../core/session/frames.ts";
import { openRawSession, startDaemon, type TestDaemon } from "../_daemon.ts";
import { assertNoStack, makeTree, readTree, setMtime, withTempDir } from "../_helpers.ts";
import {
  assertRefused,
  blit,
  dirItem,
  fileItem,
  group,
  type Lie,
  linkItem,
  playSource,
  rawRoot,
  root,
  shape,
  snapshotOutside,
  startFakeDaemon,
  T,
  WAIT_MS,
  watchChanges,
  within,
} from "./_fake_daemon.ts";

/** The root directory entry in {@linkcode shape} form (`{}` when the root is DST itself). */
function rootDir(at: string): Record<string, string> {
  return at === "" ? {} : { [at.slice(0, -1)]: "dir" };
}

/** A pull case: the lie, for a destination target path (`dst/x` for copy, `dst` for mirror). */
interface PullCase {
  /** The lie, in a few words. */
  name: string;
  /** Symlinks `target/planted` → the victim before the run. */
  plant: boolean;
  /** The lie, given the victim's path and the target's depth below `dir`. */
  lie: (victim: string, depth: number, contentsOnly: boolean) => Lie;
  /** Expected exit: a refusal (with stderr text), or success. */
  expect: { refused: RegExp } | { ok: true };
  /**
   * What the destination holds afterwards (see {@linkcode shape}), given where the root lands
   * (`x/` for copy, `""` for mirror) and the shape of a link to the victim.
   */
  dst: (at: string, linkToVictim: string) => Record<string, string>;
}

const PULL_CASES: PullCase[] = [
  {
    name: "the root's name is ../../victim",
    plant: false,
    lie: () => ({
      steps: [rawRoot("../../victim"), group("", fileItem(1, "planted.txt", "daemon data"))],
      payload: { 1: "daemon data" },
    }),
    expect: { refused: /Cannot use path "\.\.\/\.\.\/victim": it has a "\.\." segment/ },
    dst: () => ({}),
  },
  {
    name: "the root's name has a slash",
    plant: false,
    lie: () => ({
      steps: [rawRoot("a/b"), group("", fileItem(1, "planted.txt", "daemon data"))],
      payload: { 1: "daemon data" },
    }),
    expect: { refused: /Cannot accept the source root name "a\/b"/ },
    dst: () => ({}),
  },
  {
    name: "a group for a directory announced as a symlink to the victim",
    plant: false,
    lie: (victim, _depth, contentsOnly) => ({
      steps: [
        root("x", contentsOnly),
        group("", linkItem(1, "evil", victim)),
        group("evil", fileItem(2, "evil/f", "daemon data")),
      ],
      payload: { 2: "daemon data" },
    }),
    expect: { refused: /"evil": it was not announced as a directory/ },
    // The link itself is a legitimate entry of the daemon's tree: pulls copy links as links.
    dst: (at, link) => ({ ...rootDir(at), [`${at}evil`]: link }),
  },
  {
    name: "a group for a directory never announced (a planted link)",
    plant: true,
    lie: (_victim, _depth, contentsOnly) => ({
      steps: [
        root("x", contentsOnly),
        group(""),
        group("planted", fileItem(1, "planted/f", "daemon data")),
      ],
      payload: { 1: "daemon data" },
    }),
    expect: { refused: /"planted": it was not announced as a directory/ },
    dst: (at, link) => ({ ...rootDir(at), [`${at}planted`]: link }),
  },
  {
    name: "a group whose entry is not its child (through a planted link)",
    plant: true,
    lie: (_victim, _depth, contentsOnly) => ({
      steps: [root("x", contentsOnly), group("", fileItem(1, "planted/f", "daemon data"))],
      payload: { 1: "daemon data" },
    }),
    expect: { refused: /"planted\/f": not a child/ },
    dst: (at, link) => ({ ...rootDir(at), [`${at}planted`]: link }),
  },
  {
    name: "an entry path with ..",
    plant: false,
    lie: (_victim, depth, contentsOnly) => ({
      steps: [
        root("x", contentsOnly),
        group("", fileItem(1, `${"../".repeat(depth)}victim/f`, "daemon data")),
      ],
      payload: { 1: "daemon data" },
    }),
    expect: { refused: /\.\./ },
    dst: (at) => rootDir(at),
  },
  {
    name: "a planted link announced as a directory is replaced, never followed",
    plant: true,
    lie: (_victim, _depth, contentsOnly) => ({
      steps: [
        root("x", contentsOnly),
        group("", dirItem(1, "planted")),
        group("planted", fileItem(2, "planted/f", "daemon data")),
      ],
      payload: { 2: "daemon data" },
    }),
    expect: { ok: true },
    dst: (at) => ({
      ...rootDir(at),
      [`${at}planted`]: "dir",
      [`${at}planted/f`]: "file:daemon data",
    }),
  },
];

Deno.test({
  name: "hostile daemon: a pulling CLI refuses every lie and never writes or deletes outside",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const fake = await startFakeDaemon();
    try {
      for (const c of PULL_CASES) {
        for (const verb of ["copy", "mirror"] as const) {
          await t.step(`${c.name} (${verb})`, async () => {
            await withTempDir(async (dir) => {
              await makeTree(dir, {
                "victim/keep.txt": "the victim's file",
                "victim/old.txt": "a mirror of the daemon's tree would delete this",
                "victim/sub/deep.txt": "deep",
              });
              const victim = `${dir}/victim`;
              const dst = `${dir}/work/dst`;
              await Deno.mkdir(dst, { recursive: true });
              // copy host:/m/x DST/ lands in DST/x; mirror host:/m/x/ DST lands onto DST.
              const target = verb === "copy" ? `${dst}/x` : dst;
              if (c.plant) await makeTree(target, { planted: { link: victim } });
              const before = await snapshotOutside(dir, "work/dst");
              const watch = watchChanges(victim);
              const depth = target.slice(dir.length + 1).split("/").length;
              fake.lie = c.lie(victim, depth, verb === "mirror");
              const r = verb === "copy"
                ? await blit(["copy", `${fake.address}:/m/x`, `${dst}/`, "--no-tls"])
                : await blit(["mirror", `${fake.address}:/m/x/`, dst, "--yes", "--no-tls"]);
              deepStrictEqual(await watch.stop(), [], "nothing touched the victim, even briefly");
              if ("refused" in c.expect) {
                assertRefused(r, c.expect.refused);
              } else {
                equal(r.code, 0, r.stderr);
                assertNoStack(r.stderr + r.stdout);
              }
              deepStrictEqual(
                await snapshotOutside(dir, "work/dst"),
                before,
                "nothing outside the destination changed",
              );
              deepStrictEqual(
                await shape(dst),
                c.dst(verb === "copy" ? "x/" : "", `symlink:${victim}`),
                "what the destination holds",
              );
            });
          });
        }
      }
    } finally {
      await fake.stop();
    }
  },
});

/** Opens a push session to a real daemon as a fake client and plays `lie` as its source. */
async function fakePush(
  daemon: TestDaemon,
  operation: Operation,
  lie: Lie,
): Promise<Frame[]> {
  const { client, call, port, open } = await openRawSession(daemon.address);
  try {
    await open({
      role: Role.DESTINATION,
      module: "mod",
      path: "",
      operation,
      forceGrpcData: true,
    });
    const accept = await port.nextRaw(WAIT_MS);
    equal(accept?.case, "accept", `the daemon accepted the session: ${accept?.case}`);
    const seen = await within(playSource(port, lie), WAIT_MS * 2, "the fake push");
    call.end();
    return seen;
  } finally {
    client.close();
  }
}

/** The message of the daemon's abort among the frames a fake client saw, if any. */
function abortOf(frames: Frame[]): string | null {
  const abort = frames.find((f) => f.type === "abort");
  return abort?.type === "abort" ? abort.abort.message : null;
}

Deno.test({
  name:
    "hostile client: a link inside a writable module never leads a push outside, and nothing reveals it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await withTempDir(async (dir) => {
      const mod = `${dir}/mod`;
      const outside = `${dir}/outside`;
      await makeTree(dir, { "src/top.txt": "pushed top", "src/lnk/a.txt": "pushed into lnk" });
      /** The module and the outside directory, as each case starts. */
      const plantModule = async (): Promise<void> => {
        // The module's own directory stays: the daemon's mount namespace binds that inode, and
        // a module removed and made again would be another directory than the one it serves.
        await Deno.mkdir(mod, { recursive: true });
        for await (const entry of Deno.readDir(mod)) {
          await Deno.remove(`${mod}/${entry.name}`, { recursive: true });
        }
        await Deno.remove(outside, { recursive: true }).catch(() => {});
        await makeTree(dir, {
          "outside/secret.txt": "outside, not exported",
          "outside/.blit-tmp-1-1-decoy": "a stale temporary a listing would remove",
          "mod/keep.txt": "module content",
          "mod/lnk": { link: outside },
        });
        for (const path of [`${outside}/secret.txt`, `${outside}/.blit-tmp-1-1-decoy`]) {
          await setMtime(path, T);
        }
        await setMtime(`${mod}/keep.txt`, T);
      };
      await plantModule();
      const outsideBefore = await readTree(outside);
      const moduleBefore = await shape(mod);
      /** No frame, output or failure names where the module lives, the outside or its entries. */
      const assertHidden = (text: string): void => {
        for (const secret of [dir, "secret.txt", "decoy"]) {
          ok(!text.includes(secret), `"${secret}" was revealed:\n${text}`);
        }
      };
      /** Runs `action`; nothing under the outside directory may change, even for a moment. */
      const outsideUntouched = async <R>(action: () => Promise<R>): Promise<R> => {
        const watch = watchChanges(outside);
        const result = await action();
        deepStrictEqual(await watch.stop(), [], "nothing touched the outside, even briefly");
        deepStrictEqual(await readTree(outside), outsideBefore, "nothing outside changed");
        return result;
      };
      const json = (frames: Frame[]): string =>
        JSON.stringify(frames, (_k, v) => typeof v === "bigint" ? String(v) : v);

      const daemon = await startDaemon(dir, [{ name: "mod", path: mod }]);
      try {
        await t.step("the real CLI pushes a directory lnk: the link is replaced", async () => {
          const r = await outsideUntouched(() =>
            blit(["copy", `${dir}/src/`, `${daemon.address}:/mod/`])
          );
          equal(r.code, 0, r.stderr);
          assertNoStack(r.stderr + r.stdout);
          assertHidden(r.stderr + r.stdout);
          deepStrictEqual(await shape(mod), {
            "keep.txt": "file:module content",
            "lnk": "dir",
            "lnk/a.txt": "file:pushed into lnk",
            "top.txt": "file:pushed top",
          });
        });

        const refusals: { name: string; lie: Lie; why: RegExp }[] = [
          {
            name: "a group lnk never announced",
            lie: {
              steps: [root("src", true), group(""), group("lnk", fileItem(1, "lnk/f", "x"))],
              payload: { 1: "x" },
            },
            why: /"lnk": it was not announced as a directory/,
          },
          {
            name: "lnk announced as a symlink to the outside, then a group lnk",
            lie: {
              steps: [
                root("src", true),
                group("", fileItem(1, "keep.txt", "module content"), linkItem(2, "lnk", outside)),
                group("lnk", fileItem(3, "lnk/f", "x")),
              ],
              payload: { 3: "x" },
            },
            why: /"lnk": it was not announced as a directory/,
          },
        ];
        for (const refusal of refusals) {
          await t.step(`fake client: ${refusal.name} is refused`, async () => {
            await plantModule();
            const frames = await outsideUntouched(() =>
              fakePush(daemon, Operation.COPY, refusal.lie)
            );
            const abort = abortOf(frames);
            ok(abort !== null && refusal.why.test(abort), json(frames));
            assertHidden(json(frames));
            deepStrictEqual(await shape(mod), moduleBefore, "the module is intact");
          });
        }

        for (const operation of [Operation.COPY, Operation.MIRROR]) {
          const verb = operation === Operation.COPY ? "copy" : "mirror";
          await t.step(
            `fake client: lnk announced as a directory (${verb}) is replaced`,
            async () => {
              await plantModule();
              const frames = await outsideUntouched(() =>
                fakePush(daemon, operation, {
                  steps: [
                    root("src", true),
                    group("", fileItem(1, "keep.txt", "module content"), dirItem(2, "lnk")),
                    group("lnk", fileItem(3, "lnk/f", "pushed f")),
                  ],
                  payload: { 3: "pushed f" },
                })
              );
              equal(abortOf(frames), null, json(frames));
              const summary = frames.find((f) => f.type === "summary");
              ok(summary?.type === "summary", json(frames));
              deepStrictEqual(summary.summary.failures, [], json(frames));
              assertHidden(json(frames));
              deepStrictEqual(await shape(mod), {
                "keep.txt": "file:module content",
                "lnk": "dir",
                "lnk/f": "file:pushed f",
              });
            },
          );
        }

        await t.step("the daemon still serves a normal push", async () => {
          ok(daemon.running(), daemon.log());
          assertHidden(daemon.log());
          const r = await outsideUntouched(() =>
            blit(["copy", `${dir}/src/`, `${daemon.address}:/mod/after/`])
          );
          equal(r.code, 0, r.stderr);
          deepStrictEqual(await shape(`${mod}/after`), {
            "lnk": "dir",
            "lnk/a.txt": "file:pushed into lnk",
            "top.txt": "file:pushed top",
          });
        });
      } finally {
        await within(daemon.stop(), WAIT_MS, "stopping blitd");
      }
    });
  },
});
