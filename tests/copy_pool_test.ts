/**
 * The copy pool starts worker threads only when the work seen pays for them (starting one
 * blocks the caller ~20 ms), and every job comes back with its result either way.
 */

import { strictEqual as equal } from "node:assert/strict";
import type { CopyJob, CopyResult } from "../core/copy_job.ts";
import { CopyWorkerPool } from "../core/copy_pool.ts";
import { withTempDir } from "./_helpers.ts";

function job(dir: string, name: string, size: number, id: number): CopyJob {
  return {
    id,
    src: `${dir}/src/${name}`,
    tmp: `${dir}/dst/.blit-tmp-test-${id}-${name}`,
    dst: `${dir}/dst/${name}`,
    size,
    mtimeMs: Date.UTC(2024, 0, 1),
    mode: 0o644,
    umask: 0o022,
  };
}

Deno.test("CopyWorkerPool copies one big file without starting a worker", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/src`);
    await Deno.mkdir(`${dir}/dst`);
    const size = 96 * 1024 * 1024; // over the 64 MiB batch limit: flushed at once
    await Deno.writeFile(`${dir}/src/big`, new Uint8Array());
    await Deno.truncate(`${dir}/src/big`, size);
    const results: CopyResult[] = [];
    const pool = new CopyWorkerPool((_job, result) => results.push(result));
    await pool.add(job(dir, "big", size, 0));
    equal(pool.workersStarted, 0);
    await pool.finish();
    equal(results.length, 1);
    equal(results[0], null);
    equal((await Deno.stat(`${dir}/dst/big`)).size, size);
  });
});

Deno.test("CopyWorkerPool starts workers for many files and reports every job", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/src`);
    await Deno.mkdir(`${dir}/dst`);
    const count = 2_000;
    for (let i = 0; i < count; i++) Deno.writeTextFileSync(`${dir}/src/f${i}`, `file ${i}`);
    const done = new Set<number>();
    let failures = 0;
    const pool = new CopyWorkerPool((j, result) => {
      done.add(j.id);
      if (result !== null) failures++;
    });
    for (let i = 0; i < count; i++) await pool.add(job(dir, `f${i}`, `file ${i}`.length, i));
    const started = pool.workersStarted;
    await pool.finish();
    equal(started >= 1, true, `workers started: ${started}`);
    equal(done.size, count);
    equal(failures, 0);
    for (const i of [0, 1, 999, count - 1]) {
      equal(await Deno.readTextFile(`${dir}/dst/f${i}`), `file ${i}`);
    }
  });
});
