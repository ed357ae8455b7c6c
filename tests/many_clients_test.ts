/**
 * Issue #12, the many-clients case, small: 16 real `blit` clients push 16 different trees into
 * one real `blitd` at once (and then pull them back at once); every tree must arrive
 * byte-identical. The bench (`deno task bench --remote`) times the same case at full size.
 *
 * @module
 */

import { deepStrictEqual, equal } from "node:assert/strict";
import { startDaemon } from "./_daemon.ts";
import { makeTree, readTree, spawnBlit, type TreeSpec, withTempDir } from "./_helpers.ts";

const CLIENTS = 16;
const FILES = 40;

/** Tree `k`: small files over a few directories, bytes of its own, and one larger file. */
function treeSpec(k: number): TreeSpec {
  const spec: TreeSpec = {};
  for (let f = 0; f < FILES; f++) {
    spec[`d${f % 4}/f${f}.dat`] = Uint8Array.from(
      { length: 512 + f * 37 },
      (_, i) => (i * k + f) & 0xff,
    );
  }
  spec["big.bin"] = Uint8Array.from({ length: 300_000 + k }, (_, i) => (i >> 3) ^ k);
  return spec;
}

Deno.test("16 clients push and pull 16 different trees at once, each arrives byte-identical", async () => {
  await withTempDir(async (dir) => {
    const module = `${dir}/module`;
    await Deno.mkdir(module);
    for (let k = 0; k < CLIENTS; k++) await makeTree(`${dir}/src/t${k}`, treeSpec(k));
    const daemon = await startDaemon(dir, [{ name: "m", path: module }]);
    try {
      const pushes = Array.from(
        { length: CLIENTS },
        (_, k) => spawnBlit(["copy", `${dir}/src/t${k}/`, `${daemon.address}:/m/t${k}/`]).result,
      );
      for (const [k, result] of (await Promise.all(pushes)).entries()) {
        equal(result.code, 0, `push ${k}: ${result.stderr}`);
      }
      const pulls = Array.from(
        { length: CLIENTS },
        (_, k) => spawnBlit(["copy", `${daemon.address}:/m/t${k}/`, `${dir}/back/t${k}`]).result,
      );
      for (const [k, result] of (await Promise.all(pulls)).entries()) {
        equal(result.code, 0, `pull ${k}: ${result.stderr}`);
      }
      for (let k = 0; k < CLIENTS; k++) {
        const source = await readTree(`${dir}/src/t${k}`);
        deepStrictEqual(await readTree(`${module}/t${k}`), source, `pushed tree ${k}`);
        deepStrictEqual(await readTree(`${dir}/back/t${k}`), source, `pulled tree ${k}`);
        for (const [path, bytes] of Object.entries(treeSpec(k))) {
          deepStrictEqual(await Deno.readFile(`${module}/t${k}/${path}`), bytes, path);
          deepStrictEqual(await Deno.readFile(`${dir}/back/t${k}/${path}`), bytes, path);
        }
      }
    } finally {
      await daemon.stop();
    }
  });
});
