/**
 * Trees big enough that the local planner lists destination directories ahead on a worker
 * (8,000 or more entries expected ahead): the mirror must still come out exact, and the scanner
 * itself must answer in any order it is asked and survive missing directories.
 */

import { deepStrictEqual as deepEqual, strictEqual as equal } from "node:assert/strict";
import { DestinationScanner } from "../core/session/dest_scanner.ts";
import { listDirectory, LISTED_DIR, LISTED_FILE } from "../core/session/dest_listing.ts";
import { readTree, runBlit, setMtime, withTempDir } from "./_helpers.ts";

/** Writes `dirs` directories of `files` files each; every fifth also has a `sub` directory. */
async function bigTree(root: string, dirs: number, files: number): Promise<void> {
  for (let d = 0; d < dirs; d++) {
    const dir = `${root}/d${String(d).padStart(3, "0")}`;
    await Deno.mkdir(`${dir}/sub`, { recursive: true });
    for (let f = 0; f < files; f++) {
      const parent = d % 5 === 0 && f % 3 === 0 ? `${dir}/sub` : dir;
      Deno.writeTextFileSync(`${parent}/f${f}.txt`, `dir ${d} file ${f}`);
    }
  }
}

Deno.test("blit mirror of 8,000+ entries with look-ahead listings comes out exact", async () => {
  await withTempDir(async (dir) => {
    const src = `${dir}/src`;
    const dst = `${dir}/dst`;
    await bigTree(src, 95, 90);
    let r = await runBlit(["copy", `${src}/`, dst, "--json"]);
    equal(r.code, 0, r.stderr);
    equal(JSON.parse(r.stdout).files_transferred, 8550);

    // Changes spread over early and late directories, and inside nested ones.
    await Deno.writeTextFile(`${src}/d000/sub/f0.txt`, "changed size, early");
    await Deno.writeTextFile(`${src}/d085/sub/f3.txt`, "changed size, late directory");
    await Deno.writeTextFile(`${src}/d036/f1.txt`, "dir 36 file 1"); // same size and text...
    await setMtime(`${src}/d036/f1.txt`, Date.UTC(2020, 0, 1)); // ...but another mtime
    await Deno.remove(`${src}/d037/f4.txt`);
    await Deno.writeTextFile(`${src}/d038/new.txt`, "new");
    await Deno.remove(`${src}/d089`, { recursive: true });
    await Deno.writeTextFile(`${dst}/d080/sub/extra.txt`, "only in the destination");
    await Deno.remove(`${dst}/d033/f6.txt`);
    await Deno.mkdir(`${dst}/d032/f8.txt.dir`);
    await Deno.remove(`${dst}/d031/f10.txt`);
    await Deno.mkdir(`${dst}/d031/f10.txt`); // a directory where the source has a file
    await Deno.writeTextFile(`${dst}/d070/.blit-tmp-1-2-stale`, "left by a killed run");
    await setMtime(`${dst}/d070/.blit-tmp-1-2-stale`, Date.now() - 60_000);

    r = await runBlit(["mirror", `${src}/`, dst, "--yes", "--json"]);
    equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    // f0 (size), f2 (size), f1 (mtime), new.txt, d033 f6 (missing), d031 f10 (dir → file).
    equal(summary.files_transferred, 6);
    deepEqual(await readTree(dst), await readTree(src));

    r = await runBlit(["mirror", `${src}/`, dst, "--yes", "--json"]);
    equal(JSON.parse(r.stdout).outcome, "up_to_date");
  });
});

Deno.test("DestinationScanner lists what it is asked, in any order, and reports missing directories", async () => {
  await withTempDir(async (dir) => {
    await bigTree(dir, 5, 4);
    const scanner = new DestinationScanner(dir);
    try {
      scanner.request(["d000", "d001", "d000/sub", "gone"]);
      scanner.request(["d004"]); // goes to the front: planned next
      equal(scanner.has("d001"), true);
      equal(scanner.has("d003"), false);
      // Taken in an order unlike the request order; one of them never sent yet.
      const sub0 = await scanner.take("d000/sub");
      deepEqual(sub0?.names.toSorted(), ["f0.txt", "f3.txt"]);
      const d000 = await scanner.take("d000");
      deepEqual(d000, listDirectory(`${dir}/d000`));
      const sub = d000?.names.indexOf("sub") ?? -1;
      equal(d000?.kinds[sub], LISTED_DIR);
      const f1 = d000?.names.indexOf("f1.txt") ?? -1;
      equal(d000?.kinds[f1], LISTED_FILE);
      equal(d000?.sizes[f1], "dir 0 file 1".length);
      equal(await scanner.take("gone"), null);
      equal((await scanner.take("d004"))?.names.length, 5);
      equal((await scanner.take("d001"))?.names.length, 5);
      equal(scanner.has("d001"), false);
    } finally {
      scanner.close();
    }
  });
});
