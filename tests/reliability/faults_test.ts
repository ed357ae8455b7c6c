/**
 * Faults a daemon and its clients must survive, through the real `blitd` (in its namespace,
 * the default) and the real CLI:
 *
 * - the server killed with SIGKILL in the middle of a push, and of a pull: the client fails in
 *   one line, no file at its final name is partial, the supervisor brings the server back on
 *   the same port, and the same command then completes byte for byte;
 * - a module on a full filesystem (a small tmpfs): the push fails in one line naming the cause
 *   without the daemon's paths, nothing partial stays, the daemon serves the next push;
 * - a client stopped with SIGSTOP in the middle of a push: the daemon serves other clients
 *   meanwhile, and once the stopped client dies its session's descriptors are released.
 *
 * @module
 */

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { acceptsConnections, startDaemon, type TestDaemon } from "../_daemon.ts";
import { assertNoStack, runBlit, spawnBlit, withTempDir } from "../_helpers.ts";
import { fdCount, findServerPid, isAlive, settle } from "../hostile/_process.ts";
import {
  freePort,
  heldTemporaryBytes,
  inspectDestination,
  largestTemporary,
  waitUntil,
} from "./_faults.ts";

const MiB = 1024 * 1024;
const BIG_FILE_BYTES = 160 * MiB;

/** A source tree: one large file (so a transfer is caught in the middle) and 200 small ones. */
async function makeSource(root: string): Promise<void> {
  await Deno.mkdir(`${root}/small`, { recursive: true });
  const chunk = new Uint8Array(MiB);
  const file = await Deno.open(`${root}/big.bin`, { write: true, create: true, truncate: true });
  for (let i = 0; i < BIG_FILE_BYTES / MiB; i++) {
    const view = new DataView(chunk.buffer);
    for (let j = 0; j < MiB; j += 4096) view.setUint32(j, i * 4096 + j);
    chunk.fill(i & 0xff, 4, 4096);
    let offset = 0;
    while (offset < chunk.byteLength) offset += await file.write(chunk.subarray(offset));
  }
  file.close();
  for (let i = 0; i < 200; i++) {
    await Deno.writeTextFile(`${root}/small/f${i}.txt`, `small file ${i}\n`.repeat(i + 1));
  }
}

async function startOnFixedPort(dir: string, modules: { name: string; path: string }[]) {
  return await startDaemon(dir, modules, [`port = ${freePort()}`]);
}

/** Kills the server (not the launcher) and waits for the supervisor to start another. */
async function killServer(daemon: TestDaemon): Promise<void> {
  const pid = await findServerPid(daemon.pid);
  Deno.kill(pid, "SIGKILL");
  await waitUntil("the server is gone", () => !isAlive(pid), 10_000);
  await waitUntil("the supervisor restarted the server", async () => {
    const next = await findServerPid(daemon.pid, 200).catch(() => pid);
    return next !== pid && (await acceptsConnections(daemon.port));
  }, 30_000);
}

Deno.test({
  name: "faults: the server killed mid-push and mid-pull",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  await withTempDir(async (dir) => {
    const src = `${dir}/src`;
    await makeSource(src);
    await Deno.mkdir(`${dir}/mod`);
    const daemon = await startOnFixedPort(dir, [{ name: "mod", path: `${dir}/mod` }]);
    try {
      await t.step("push", async () => {
        const dst = `${dir}/mod/pushed`;
        const push = spawnBlit(["copy", `${src}/`, `${daemon.address}:/mod/pushed/`]);
        await waitUntil(
          "a payload is on its way",
          async () => await largestTemporary(dst) > 8 * MiB,
          60_000,
        );
        await killServer(daemon);
        const failed = await push.result;
        ok(failed.code !== 0, "the push must fail");
        assertNoStack(failed.stderr);
        equal(failed.stderr.trim().split("\n").length, 1, failed.stderr);
        const during = await inspectDestination(src, dst);
        deepStrictEqual(during.wrong, [], "no partial file at a final name");
        const again = await runBlit(["copy", `${src}/`, `${daemon.address}:/mod/pushed/`]);
        equal(again.code, 0, again.stderr);
        const after = await inspectDestination(src, dst);
        deepStrictEqual({ ...after, complete: 0 }, {
          temporaries: [],
          temporaryBytes: 0,
          wrong: [],
          complete: 0,
        });
        equal(after.complete, 201);
      });
      await t.step("pull", async () => {
        await Deno.rename(`${dir}/mod/pushed`, `${dir}/mod/tree`);
        const dst = `${dir}/pulled`;
        const pull = spawnBlit(["copy", `${daemon.address}:/mod/tree/`, `${dst}/`]);
        await waitUntil(
          "a payload is on its way",
          async () => await largestTemporary(dst) > 8 * MiB,
          60_000,
        );
        await killServer(daemon);
        const failed = await pull.result;
        ok(failed.code !== 0, "the pull must fail");
        assertNoStack(failed.stderr);
        const during = await inspectDestination(src, dst);
        deepStrictEqual(during.wrong, [], "no partial file at a final name");
        const again = await runBlit(["copy", `${daemon.address}:/mod/tree/`, `${dst}/`]);
        equal(again.code, 0, again.stderr);
        const after = await inspectDestination(src, dst);
        deepStrictEqual(after.temporaries, []);
        deepStrictEqual(after.wrong, []);
        equal(after.complete, 201);
      });
    } finally {
      await daemon.stop();
    }
  });
});

Deno.test({
  name: "faults: a module on a full filesystem",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await withTempDir(async (dir) => {
    const full = `${dir}/full`;
    await Deno.mkdir(full);
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", full],
    }).output();
    if (!mount.success) {
      console.log("skipped: cannot mount a tmpfs here");
      return;
    }
    try {
      const src = `${dir}/src`;
      await Deno.mkdir(src);
      await Deno.writeFile(`${src}/large.bin`, new Uint8Array(6 * MiB).fill(7));
      await Deno.writeTextFile(`${src}/note.txt`, "fits\n");
      const daemon = await startDaemon(dir, [{ name: "full", path: full }]);
      try {
        const push = await runBlit(["copy", `${src}/`, `${daemon.address}:/full/in/`]);
        ok(push.code !== 0, "the push cannot fit");
        assertNoStack(push.stderr);
        match(push.stderr + push.stdout, /no space|ENOSPC|os error 28/i);
        ok(!(push.stderr + push.stdout).includes(full), "the module's path stays private");
        const state = await inspectDestination(src, `${full}/in`);
        deepStrictEqual(state.wrong, [], "no partial file at a final name");
        deepStrictEqual(state.temporaries, [], "no temporary left behind");
        await Deno.remove(`${src}/large.bin`);
        const next = await runBlit(["copy", `${src}/`, `${daemon.address}:/full/next/`]);
        equal(next.code, 0, next.stderr);
        equal(await Deno.readTextFile(`${full}/next/note.txt`), "fits\n");
      } finally {
        await daemon.stop();
      }
    } finally {
      await new Deno.Command("umount", { args: [full] }).output();
    }
  });
});

Deno.test({
  name: "faults: a client stopped mid-push does not hold the daemon",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await withTempDir(async (dir) => {
    const src = `${dir}/src`;
    await makeSource(src);
    await Deno.mkdir(`${dir}/mod`);
    await Deno.mkdir(`${dir}/other`);
    await Deno.writeTextFile(`${dir}/other/x.txt`, "other client\n");
    const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }]);
    try {
      const server = await findServerPid(daemon.pid);
      const baseline = fdCount(server);
      const stalled = spawnBlit(["copy", `${src}/`, `${daemon.address}:/mod/stalled/`]);
      await waitUntil(
        "a payload is on its way",
        async () => await largestTemporary(`${dir}/mod/stalled`) > 4 * MiB,
        60_000,
      );
      stalled.child.kill("SIGSTOP");
      try {
        const started = performance.now();
        const other = await runBlit(["copy", `${dir}/other/`, `${daemon.address}:/mod/other/`]);
        equal(other.code, 0, other.stderr);
        ok(performance.now() - started < 20_000, "the other client was served at once");
        equal(await Deno.readTextFile(`${dir}/mod/other/x.txt`), "other client\n");
      } finally {
        stalled.child.kill("SIGKILL");
        await stalled.result;
      }
      const fds = await settle(() => fdCount(server), (n) => n <= baseline + 2, 20_000);
      ok(fds <= baseline + 2, `descriptors back to the baseline: ${fds} vs ${baseline}`);
      // The session lets go of it once the data connection's end reaches it (after its
      // descriptors may already be closed): give it the same deadline. In-flight temporaries
      // go; a large file's partial file stays, released, for the next run to resume.
      const temporary = await settle(
        () => heldTemporaryBytes(`${dir}/mod/stalled`),
        (bytes) => bytes === 0,
        20_000,
      );
      equal(temporary, 0, "the temporaries were released");
    } finally {
      await daemon.stop();
    }
  });
});
