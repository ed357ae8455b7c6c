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

Deno.test("received files: written with their mode and mtime; refused when the directory or its parent changed", async () => {
  const { runCopyJob } = await import("../core/copy_job.ts");
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/dst/sub`, { recursive: true });
    const identity = (path: string) => {
      const info = Deno.lstatSync(path);
      return { path, dev: info.dev, ino: info.ino ?? 0 };
    };
    const received = (name: string, data: Uint8Array): CopyJob => ({
      ...job(dir, name, data.length, 1),
      tmp: `${dir}/dst/sub/.blit-tmp-test-${name}`,
      dst: `${dir}/dst/sub/${name}`,
      src: "",
      data,
      dir: { ...identity(`${dir}/dst/sub`), parent: identity(`${dir}/dst`) },
    });
    equal(runCopyJob(received("a", new Uint8Array([1, 2, 3]))), null);
    const info = Deno.statSync(`${dir}/dst/sub/a`);
    equal(info.size, 3);
    equal((info.mode ?? 0) & 0o777, 0o644);
    equal(info.mtime?.getTime(), Date.UTC(2024, 0, 1));
    const swapped = received("b", new Uint8Array([4]));
    // The directory is exchanged for another one: nothing may be written through it.
    await Deno.rename(`${dir}/dst/sub`, `${dir}/dst/old`);
    await Deno.mkdir(`${dir}/dst/sub`);
    const refused = runCopyJob(swapped) ?? "";
    equal(/its directory changed during the session/.test(refused), true, refused);
    equal(Array.from(Deno.readDirSync(`${dir}/dst/sub`)).length, 0);
    // The parent exchanged (the directory itself moved along with it): refused too.
    const moved = { ...received("c", new Uint8Array([5])), tmp: `${dir}/dst/old/.t-c` };
    moved.dir = { ...identity(`${dir}/dst/old`), parent: { ...identity(`${dir}/dst`), ino: 1 } };
    equal(/its directory changed/.test(runCopyJob(moved) ?? ""), true);
    equal(Array.from(Deno.readDirSync(`${dir}/dst/old`)).map((e) => e.name).join(), "a");
  });
});

Deno.test("endBatch waits for an earlier flush that holds its jobs: their bytes can be reused after it", async () => {
  // Two data connections share one pool. Connection 2 queues file X (a view of its shard
  // buffer); connection 1's add fills the batch and waits for a worker (back-pressure) holding
  // X unsent. Connection 2's endBatch must not resolve before X's bytes are copied: it then
  // reads its next shard into the same buffer.
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/dst`);
    const results: CopyResult[] = [];
    const pool = new CopyWorkerPool((_job, result) => results.push(result), {
      workers: 1,
      batchFiles: 2,
    });
    pool.startWorkers();
    const received = (name: string, id: number, data: Uint8Array): CopyJob => ({
      ...job(dir, name, data.length, id),
      src: "",
      data,
    });
    const filler = new Uint8Array(1024).fill(1);
    // Two batches of two: the worker holds two, the most it queues.
    for (let i = 0; i < 4; i++) await pool.add(received(`f${i}`, i, filler));
    const shard = new Uint8Array(4096).fill(0x58);
    await pool.add(received("x", 10, shard.subarray(0, 2048)));
    const waiting = pool.add(received("y", 11, filler)); // flushes [x, y]: waits for the worker
    await pool.endBatch();
    shard.fill(0x21); // connection 2 reads its next shard into the buffer
    await waiting;
    await pool.finish();
    equal(results.filter((r) => r !== null).length, 0);
    const x = await Deno.readFile(`${dir}/dst/x`);
    equal(x.length, 2048);
    equal(x.every((byte) => byte === 0x58), true);
  });
});
