// The project's xxHash3 (core/delta/wasm/xxh3_128.wat), 128 and 64 bits, against the reference
// C code (npm:@node-rs/xxhash, native): every length that takes a different path (0–16, 17–128,
// 129–240, long inputs around the 64-byte stripe and 1,024-byte block edges), one-shot and
// streamed in random splits, from anywhere and from the hash's own input.

import { strictEqual } from "node:assert/strict";
import { xxh3 } from "@node-rs/xxhash";
import { StrongHash } from "../core/delta/strong_hash.ts";
import { pseudoRandomBytes } from "./_helpers.ts";

function expected(bytes: Uint8Array): string {
  return xxh3.xxh128(bytes, 0n).toString(16).padStart(32, "0");
}

function expected64(bytes: Uint8Array): string {
  return xxh3.xxh64(bytes, 0n).toString(16).padStart(16, "0");
}

function hex(digest: Uint8Array): string {
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Cut points of `length` bytes in pieces of 1 to `most` bytes, from a fixed seed. */
function cuts(length: number, most: number, seed: number): number[] {
  const out: number[] = [];
  let state = seed;
  for (let at = 0;;) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    at += 1 + (state % most);
    if (at >= length) return out;
    out.push(at);
  }
}

function streamed(hash: StrongHash, bytes: Uint8Array, points: number[], bits = 128): string {
  hash.start();
  let from = 0;
  for (const to of [...points, bytes.length]) {
    hash.update(bytes.subarray(from, to));
    from = to;
  }
  return hex(bits === 128 ? hash.finish() : hash.finish64());
}

const data = pseudoRandomBytes(300_000, 7);

Deno.test("xxHash3-128 and -64: every length to 2,100 bytes, one-shot and streamed, are the reference's", async () => {
  const hash = await StrongHash.create({ inputBytes: 4096 });
  for (let length = 0; length <= 2100; length++) {
    const bytes = data.subarray(0, length);
    const want = expected(bytes);
    strictEqual(hex(hash.digestOf(bytes)), want, `one-shot of ${length} bytes`);
    strictEqual(streamed(hash, bytes, cuts(length, 300, length)), want, `streamed ${length} bytes`);
    strictEqual(streamed(hash, bytes, cuts(length, 3, length)), want, `byte-streamed ${length}`);
    const want64 = expected64(bytes);
    strictEqual(hex(hash.digest64Of(bytes)), want64, `64-bit one-shot of ${length} bytes`);
    strictEqual(streamed(hash, bytes, cuts(length, 300, length), 64), want64, `64-bit ${length}`);
  }
});

Deno.test("xxHash3-128: long inputs, streams that pass the input area, and in-place bytes", async () => {
  const hash = await StrongHash.create({ inputBytes: 65536 });
  for (const length of [65536, 65537, 100_000, 262_144, 300_000]) {
    const bytes = data.subarray(0, length);
    const want = expected(bytes);
    // Longer than the input area: a one-shot digest takes a spare state, a stream is cut.
    strictEqual(hex(hash.digestOf(bytes)), want, `one-shot of ${length} bytes`);
    strictEqual(streamed(hash, bytes, [length >> 1]), want, `two pieces of ${length}`);
    strictEqual(streamed(hash, bytes, cuts(length, 70_000, length)), want, `pieces of ${length}`);
    strictEqual(hex(hash.digest64Of(bytes)), expected64(bytes), `64-bit one-shot of ${length}`);
  }
  // Bytes placed in the hash's own input are hashed where they lie.
  const input = hash.input;
  input.set(data.subarray(0, 65536));
  strictEqual(
    hex(hash.digestOf(input.subarray(100, 40_100))),
    expected(data.subarray(100, 40_100)),
  );
  hash.start();
  hash.update(input.subarray(0, 1000));
  hash.update(input.subarray(1000, 65536));
  strictEqual(hex(hash.finish()), expected(data.subarray(0, 65536)));
  // A one-shot digest in the middle of a stream leaves the stream as it was.
  hash.start();
  hash.update(data.subarray(0, 5000));
  hash.digestOf(data.subarray(0, 3000));
  hash.update(data.subarray(5000, 9000));
  strictEqual(hex(hash.finish()), expected(data.subarray(0, 9000)));
});
