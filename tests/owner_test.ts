/**
 * Owners and groups (numeric ids) through the real CLI and daemon, as root: a local copy keeps
 * the source's (`rsync -a` as root), `--no-owner` does not; a daemon module without
 * `keep_owner` neither applies a client's nor sends its own (its confined server sees other ids
 * as 65534), one with `keep_owner = true` does both (its server then runs without a user
 * namespace). Skipped when not root.
 */

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { startDaemon } from "./_daemon.ts";
import { runBlit, withTempDir } from "./_helpers.ts";

const ROOT = Deno.uid() === 0;

/** Ids no account here uses. */
const UID = 4321;
const GID = 8765;

/** A source tree whose entries belong to UID:GID (a setgid file too, which a chown clears). */
async function makeOwnedTree(root: string): Promise<void> {
  await Deno.mkdir(`${root}/sub`, { recursive: true });
  await Deno.writeTextFile(`${root}/a.txt`, "alpha\n");
  await Deno.writeTextFile(`${root}/sub/b.txt`, "bravo\n");
  await Deno.writeFile(`${root}/sub/big.bin`, new Uint8Array(1024 * 1024).fill(7));
  await Deno.writeTextFile(`${root}/sub/sgid.sh`, "#!/bin/sh\n");
  for (const path of ["", "/a.txt", "/sub", "/sub/b.txt", "/sub/big.bin", "/sub/sgid.sh"]) {
    await Deno.chown(`${root}${path}`, UID, GID);
  }
  await Deno.chmod(`${root}/sub/sgid.sh`, 0o2755);
}

/** `uid:gid` of each path under a root. */
async function owners(root: string, paths: string[]): Promise<string[]> {
  return await Promise.all(paths.map(async (path) => {
    const info = await Deno.lstat(`${root}/${path}`);
    return `${info.uid}:${info.gid}`;
  }));
}

const PATHS = ["a.txt", "sub", "sub/b.txt", "sub/big.bin", "sub/sgid.sh"];

Deno.test({
  name: "owners: a local copy keeps them as root; --no-owner, a push and a pull without " +
    "keep_owner do not",
  ignore: !ROOT,
  async fn() {
    await withTempDir(async (dir) => {
      await makeOwnedTree(`${dir}/src`);
      const kept = PATHS.map(() => `${UID}:${GID}`);
      const mine = PATHS.map(() => `${Deno.uid()}:${Deno.gid()}`);

      const local = await runBlit(["copy", `${dir}/src/`, `${dir}/local`]);
      equal(local.code, 0, local.stderr);
      deepStrictEqual(await owners(`${dir}/local`, PATHS), kept);
      // The chown came before the mode: the setgid bit is still there.
      equal((await Deno.stat(`${dir}/local/sub/sgid.sh`)).mode! & 0o7777, 0o2755);

      const none = await runBlit(["copy", "--no-owner", `${dir}/src/`, `${dir}/none`]);
      equal(none.code, 0, none.stderr);
      deepStrictEqual(await owners(`${dir}/none`, PATHS), mine);

      await Deno.mkdir(`${dir}/module`);
      const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/module` }]);
      try {
        const push = await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/m/pushed`]);
        equal(push.code, 0, push.stderr);
        deepStrictEqual(await owners(`${dir}/module/pushed`, PATHS), mine);
        // Owned by UID:GID inside the module, then pulled.
        await makeOwnedTree(`${dir}/module/owned`);
        const pull = await runBlit(["copy", `${daemon.address}:/m/owned/`, `${dir}/pulled`]);
        equal(pull.code, 0, pull.stderr);
        deepStrictEqual(await owners(`${dir}/pulled`, PATHS), mine);
      } finally {
        await daemon.stop();
      }
    });
  },
});

Deno.test({
  name: "owners: a module with keep_owner = true keeps them on a push and a pull, not with " +
    "--no-owner",
  ignore: !ROOT,
  async fn() {
    await withTempDir(async (dir) => {
      await makeOwnedTree(`${dir}/src`);
      const kept = PATHS.map(() => `${UID}:${GID}`);
      const mine = PATHS.map(() => `${Deno.uid()}:${Deno.gid()}`);
      await Deno.mkdir(`${dir}/keep`);
      await Deno.mkdir(`${dir}/plain`);
      const daemon = await startDaemon(dir, [
        // keep_special_bits too, to see that the chown comes before the mode here as well.
        { name: "o", path: `${dir}/keep`, keepOwner: true, keepSpecialBits: true },
        { name: "m", path: `${dir}/plain` },
      ]);
      try {
        const push = await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/o/pushed`]);
        equal(push.code, 0, push.stderr);
        deepStrictEqual(await owners(`${dir}/keep/pushed`, PATHS), kept);
        // The chown came before the mode: the setgid bit is still there.
        equal((await Deno.stat(`${dir}/keep/pushed/sub/sgid.sh`)).mode! & 0o7777, 0o2755);

        await makeOwnedTree(`${dir}/keep/owned`);
        const pull = await runBlit(["copy", `${daemon.address}:/o/owned/`, `${dir}/pulled`]);
        equal(pull.code, 0, pull.stderr);
        deepStrictEqual(await owners(`${dir}/pulled`, PATHS), kept);

        const none = await runBlit([
          "copy",
          "--no-owner",
          `${dir}/src/`,
          `${daemon.address}:/o/none`,
        ]);
        equal(none.code, 0, none.stderr);
        deepStrictEqual(await owners(`${dir}/keep/none`, PATHS), mine);

        // The same daemon, a module without keep_owner: the module decides, not the namespace.
        const plain = await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/m/pushed`]);
        equal(plain.code, 0, plain.stderr);
        deepStrictEqual(await owners(`${dir}/plain/pushed`, PATHS), mine);
        if (daemon.log().includes("private mount namespace")) {
          match(daemon.log(), /without a user namespace \(keep_owner: ids must be real\)/);
        }
      } finally {
        await daemon.stop();
      }
    });
  },
});
