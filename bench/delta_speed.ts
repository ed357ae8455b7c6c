/**
 * The delta algorithm's own speed, without I/O cost beyond the page cache: signing a file, the
 * source's search over a file whose blocks all match, and over one where none does (every byte
 * rolled). `deno run -A bench/delta_speed.ts [MiB]` (default 256).
 *
 * @module
 */

import { computeSignature, encodeDelta, type Signature } from "../core/delta/mod.ts";

const MIB = 1024 * 1024;

/** Fills a file with `size` random bytes (64 KiB at a time, as `getRandomValues` allows). */
async function randomFile(path: string, size: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(4 * MIB);
  for (let done = 0; done < size; done += chunk.length) {
    for (let i = 0; i < chunk.length; i += 65536) {
      crypto.getRandomValues(chunk.subarray(i, i + 65536));
    }
    const part = chunk.subarray(0, Math.min(chunk.length, size - done));
    let off = 0;
    while (off < part.length) off += await file.write(part.subarray(off));
  }
}

/** MB/s of `size` bytes in `ms` milliseconds. */
function rate(size: number, ms: number): string {
  return `${(size / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
}

/** Runs the search of `path` against `signature`; returns the literal bytes it sent. */
async function search(path: string, size: number, signature: Signature): Promise<number> {
  using file = await Deno.open(path);
  const delta = encodeDelta(file, { size, signature });
  let literal = 0;
  for (let step = await delta.next(); !step.done; step = await delta.next()) {
    if (step.value.kind === "literal") literal += step.value.bytes.length;
  }
  return literal;
}

/**
 * Times the three cases and prints their rates.
 * @param size Bytes per file.
 */
export async function measureDeltaSpeed(size: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "blit-delta-speed-" });
  try {
    await randomFile(`${dir}/basis`, size);
    await randomFile(`${dir}/other`, size);
    let started = performance.now();
    let signature: Signature;
    {
      using basis = await Deno.open(`${dir}/basis`);
      signature = await computeSignature(basis, { size });
    }
    console.log(
      `signature (${signature.blockSize / 1024} KiB blocks): ${
        rate(size, performance.now() - started)
      }`,
    );
    started = performance.now();
    const same = await search(`${dir}/basis`, size, signature);
    console.log(`search, every block matches: ${rate(size, performance.now() - started)}`);
    started = performance.now();
    const other = await search(`${dir}/other`, size, signature);
    console.log(`search, no block matches (rolled): ${rate(size, performance.now() - started)}`);
    if (same !== 0 || other !== size) throw new Error("Cannot trust the run: unexpected literals");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const mib = Number(Deno.args[0] ?? 256);
  if (!Number.isInteger(mib) || mib < 1) {
    console.error(`delta_speed: Cannot use "${Deno.args[0]}": give a size in MiB`);
    Deno.exit(2);
  }
  await measureDeltaSpeed(mib * MIB);
}
