// The delta algorithm on its own: signatures, the source's search and the destination's rebuild
// over real files, with the edits the issue lists and hostile signatures and instructions.

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  BlockWeakSums,
  computeSignature,
  decodeSignature,
  DELTA_CAPS,
  DeltaRebuilder,
  encodeDelta,
  encodeSignature,
  joinWeak,
  type Signature,
  StrongHash,
  weakSums,
} from "../core/delta/mod.ts";
import { ProtocolError } from "../core/errors.ts";
import { concatBytes, pseudoRandomBytes } from "./_helpers.ts";

const bytesOf = pseudoRandomBytes;
const concat = concatBytes;

interface RoundTrip {
  rebuilt: Uint8Array;
  literalBytes: number;
  copiedBytes: number;
}

/** Signs `old`, encodes `young` against it and rebuilds it; returns the result and its cost. */
async function roundTrip(
  old: Uint8Array,
  young: Uint8Array,
  blockSize?: number,
  prefix = false,
): Promise<RoundTrip> {
  const dir = await Deno.makeTempDir({ prefix: "blit-delta-" });
  try {
    await Deno.writeFile(`${dir}/old`, old);
    await Deno.writeFile(`${dir}/young`, young);
    using basis = await Deno.open(`${dir}/old`);
    const signature = await computeSignature(basis, {
      size: old.length,
      ...(blockSize ? { blockSize } : {}),
    });
    // Through the wire form, as the source sees it.
    const received = decodeSignature(encodeSignature(signature));
    using source = await Deno.open(`${dir}/young`);
    const parts: Uint8Array[] = [];
    const out = { writeSync: (p: Uint8Array) => (parts.push(p.slice()), p.length) };
    const rebuild = await DeltaRebuilder.create({
      shape: signature,
      size: young.length,
      basis,
      out,
    });
    let literalBytes = 0;
    const delta = encodeDelta(source, { size: young.length, signature: received, prefix });
    let step = await delta.next();
    for (; !step.done; step = await delta.next()) {
      const op = step.value;
      if (op.kind === "literal") {
        literalBytes += op.bytes.length;
        rebuild.literal(op.bytes);
      } else rebuild.copy(op.block, op.count);
    }
    strictEqual(step.value.problem, null);
    rebuild.finish(step.value.digest);
    return { rebuilt: concat(...parts), literalBytes, copiedBytes: rebuild.copied };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("delta: every kind of edit rebuilds byte-identical, sending only what changed", async (t) => {
  const size = 3 * 1024 * 1024 + 777;
  const old = bytesOf(size, 1);
  const block = 2048; // √size ≈ 1.8 KiB, rounded up
  const cases: [string, Uint8Array, number][] = [
    ["unchanged", old, 0],
    [
      "overwrites",
      (() => {
        const y = old.slice();
        for (const at of [10, 500_000, 1_700_001, size - 100]) y.set(bytesOf(64, at), at);
        return y;
      })(),
      4 * 3 * block,
    ],
    [
      "insertions",
      concat(
        old.subarray(0, 1000),
        bytesOf(4096, 2),
        old.subarray(1000, 2_000_000),
        bytesOf(3, 3),
        old.subarray(2_000_000),
      ),
      3 * block + 4096,
    ],
    ["deletions", concat(old.subarray(0, 100_000), old.subarray(104_097)), 2 * block],
    ["appended tail", concat(old, bytesOf(10_000, 4)), 10_000 + 2 * block],
    ["truncated tail", old.subarray(0, size - 5000), 2 * block],
    ["replaced entirely", bytesOf(size, 5), size],
    ["empty", new Uint8Array(0), 0],
    ["shorter than a block", old.subarray(0, 1000), 1000],
  ];
  for (const [name, young, maxLiteral] of cases) {
    await t.step(name, async () => {
      const trip = await roundTrip(old, young);
      strictEqual(trip.rebuilt.length, young.length);
      ok(trip.rebuilt.every((b, i) => b === young[i]), "rebuilt bytes differ");
      ok(trip.literalBytes <= maxLiteral, `${trip.literalBytes} literal bytes > ${maxLiteral}`);
      strictEqual(trip.literalBytes + trip.copiedBytes, young.length);
    });
  }
  await t.step("an empty basis", async () => {
    const young = bytesOf(5000, 6);
    const trip = await roundTrip(new Uint8Array(0), young);
    deepStrictEqual(trip.rebuilt, young);
    strictEqual(trip.literalBytes, 5000);
  });
  await t.step("a basis of repeated blocks (equal weak sums everywhere)", async () => {
    const old = new Uint8Array(2 * 1024 * 1024).fill(0x61);
    const young = concat(old.subarray(0, 1_000_000), bytesOf(5000, 7), old.subarray(1_000_000));
    const trip = await roundTrip(old, young, 1024);
    deepStrictEqual(trip.rebuilt, young);
    ok(trip.literalBytes <= 5000 + 2 * 1024);
  });
});

Deno.test("delta: a long unchanged run is sent as copies of at most 8 MiB, every byte matched", async () => {
  const old = bytesOf(20 * 1024 * 1024 + 5, 11);
  const dir = await Deno.makeTempDir({ prefix: "blit-delta-" });
  try {
    await Deno.writeFile(`${dir}/old`, old);
    using basis = await Deno.open(`${dir}/old`);
    const signature = await computeSignature(basis, { size: old.length, blockSize: 4096 });
    using source = await Deno.open(`${dir}/old`);
    const runs: number[] = [];
    const delta = encodeDelta(source, { size: old.length, signature });
    let next = 0;
    let step = await delta.next();
    for (; !step.done; step = await delta.next()) {
      const op = step.value;
      if (op.kind === "literal") throw new Error(`unexpected literal of ${op.bytes.length} bytes`);
      strictEqual(op.block, next, "the runs follow each other");
      next += op.count;
      runs.push(op.count * 4096);
    }
    strictEqual(next, signature.blockCount);
    ok(runs.every((bytes) => bytes <= 8 * 1024 * 1024), `runs of ${runs.join(", ")} bytes`);
    ok(runs.length >= 3, `${runs.length} runs`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("delta: a basis block that changed after it was signed fails the rebuild", async () => {
  const old = bytesOf(64 * 1024, 12);
  const dir = await Deno.makeTempDir({ prefix: "blit-delta-" });
  try {
    await Deno.writeFile(`${dir}/old`, old);
    using basis = await Deno.open(`${dir}/old`);
    const signature = await computeSignature(basis, { size: old.length, blockSize: 4096 });
    // The same length, one byte different in block 5: the copy still reads 4096 bytes.
    const changed = old.slice();
    changed[5 * 4096 + 7] = changed[5 * 4096 + 7]! ^ 0xff;
    await Deno.writeFile(`${dir}/old`, changed);
    const rebuild = await DeltaRebuilder.create({
      shape: signature,
      size: old.length,
      basis,
      out: { writeSync: (p: Uint8Array) => p.length },
    });
    const delta = encodeDelta(ReadableStream.from([old]).getReader(), {
      size: old.length,
      signature,
    });
    let step = await delta.next();
    for (; !step.done; step = await delta.next()) {
      const op = step.value;
      if (op.kind === "literal") rebuild.literal(op.bytes);
      else rebuild.copy(op.block, op.count);
    }
    strictEqual(rebuild.copied, old.length);
    const digest = step.value.digest;
    throws(() => rebuild.finish(digest), /does not match the source's digest/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("delta: a resumed partial file (prefix mode) keeps its good blocks only", async (t) => {
  const young = bytesOf(3 * 1024 * 1024 + 5, 21);
  const torn = concat(young.subarray(0, 1_000_000), new Uint8Array(50_000));
  const middle = young.slice(0, 2_000_000);
  middle.fill(0, 500_000, 500_100);
  // [name, partial, bytes of it that are good]: at most one block of them may be sent again.
  const cases: [string, Uint8Array, number][] = [
    ["an exact prefix", young.subarray(0, 1_000_000), 1_000_000],
    ["a prefix with a torn tail", torn, 1_000_000],
    ["garbage in the middle", middle, 500_000],
    ["the whole file", young, young.length],
    ["longer than the file", concat(young, bytesOf(10_000, 3)), young.length],
    ["empty", new Uint8Array(0), 0],
  ];
  for (const [name, partial, good] of cases) {
    await t.step(name, async () => {
      const trip = await roundTrip(partial, young, undefined, true);
      deepStrictEqual(trip.rebuilt, young);
      const least = young.length - good;
      ok(trip.literalBytes >= least && trip.literalBytes <= least + 4096, `${trip.literalBytes}`);
    });
  }
});

Deno.test("BlockWeakSums (WebAssembly SIMD) agrees with the byte loop on every block", () => {
  const input = new BlockWeakSums(1 << 20);
  // Random bytes, then runs of 255 (the largest column sums) and of 0.
  input.input.set(bytesOf(1 << 20, 7));
  input.input.fill(255, 0, 300_000);
  input.input.fill(0, 600_000, 700_000);
  for (const blockSize of [16, 1024, 3 * 1024, 32 * 1024, 1 << 20, 1000]) {
    for (const length of [1 << 20, (1 << 20) - 5, Math.min(1 << 20, 2 * blockSize + 17)]) {
      const blocks = Math.ceil(length / blockSize);
      const out = new Uint32Array(blocks + 2);
      strictEqual(input.compute(length, blockSize, out, 2), blocks);
      for (let k = 0; k < blocks; k++) {
        const end = Math.min(length, (k + 1) * blockSize);
        const want = joinWeak(weakSums(input.input, k * blockSize, end));
        strictEqual(out[k + 2], want, `block ${k} of ${blockSize} bytes (${length} summed)`);
      }
    }
  }
});

Deno.test("delta: many blocks with one weak checksum cost bounded work", async () => {
  // A hostile signature: 4,096 blocks that all carry the weak checksum of every window of the new
  // file (all zeros: 0), each with a different strong digest. Indexed without a bound, each of
  // the 1 Mi positions would be compared with 4,096 blocks (4 Gi comparisons, minutes); with
  // the chain capped, each costs one strong digest and at most maxChain comparisons.
  const blockSize = 1024;
  const count = 4096;
  const signature: Signature = {
    blockSize,
    basisSize: count * blockSize,
    blockCount: count,
    weak: new Uint32Array(count),
    strong: crypto.getRandomValues(new Uint8Array(count * 16)),
  };
  const young = new Uint8Array(1024 * 1024);
  const started = performance.now();
  const delta = encodeDelta(ReadableStream.from([young]).getReader(), {
    size: young.length,
    signature,
  });
  let literal = 0;
  for (let step = await delta.next(); !step.done; step = await delta.next()) {
    if (step.value.kind === "literal") literal += step.value.bytes.length;
  }
  strictEqual(literal, young.length);
  // A bound on the algorithm, not a benchmark: the unbounded lookup takes minutes.
  ok(performance.now() - started < 60_000);
});

Deno.test("decodeSignature() refuses signatures that break a cap or do not add up", async (t) => {
  const good = encodeSignature({
    blockSize: 1024,
    basisSize: 2048,
    blockCount: 2,
    weak: new Uint32Array(2),
    strong: new Uint8Array(32),
  });
  const edit = (change: (view: DataView) => void, length = good.length): Uint8Array => {
    const bytes = new Uint8Array(length);
    bytes.set(good.subarray(0, Math.min(length, good.length)));
    change(new DataView(bytes.buffer));
    return bytes;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ["a zero block length with blocks", edit((v) => v.setUint32(1, 0, true)), /block size 0/],
    [
      "a block beyond the cap",
      edit((v) => v.setUint32(1, DELTA_CAPS.maxBlockBytes + 1, true)),
      /block size/,
    ],
    [
      "a huge block count",
      edit((v) => {
        v.setUint32(13, 0xffffffff, true);
        v.setBigUint64(5, 1024n * 0xffffffffn, true);
      }),
      /blocks exceed/,
    ],
    [
      "a count that does not fit the size",
      edit((v) => v.setBigUint64(5, 5000n, true)),
      /do not make/,
    ],
    ["a truncated body", edit(() => {}, good.length - 1), /expected/],
    ["a trailing byte", edit(() => {}, good.length + 1), /expected/],
    ["another version", edit((v) => v.setUint8(0, 2)), /version/],
    ["a short header", good.subarray(0, 10), /too short/],
  ];
  for (const [name, bytes, message] of cases) {
    await t.step(name, () => {
      throws(
        () => decodeSignature(bytes),
        (e) => e instanceof ProtocolError && message.test(e.message),
      );
    });
  }
});

Deno.test("DeltaRebuilder refuses instructions outside the signature, and a wrong digest", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blit-delta-" });
  await Deno.writeFile(`${dir}/basis`, bytesOf(4096, 9));
  const shape = { blockSize: 1024, basisSize: 4096, blockCount: 4 };
  const make = async (size: number) => {
    const basis = await Deno.open(`${dir}/basis`);
    const written: number[] = [];
    const rebuild = await DeltaRebuilder.create({
      shape,
      size,
      basis,
      out: { writeSync: (p) => (written.push(p.length), p.length) },
    });
    return { rebuild, basis, written };
  };
  const refused = async (
    name: string,
    size: number,
    act: (r: DeltaRebuilder) => void,
    message: RegExp,
  ) => {
    await t.step(name, async () => {
      const { rebuild, basis, written } = await make(size);
      try {
        throws(
          () => act(rebuild),
          (e: Error) => e instanceof ProtocolError && message.test(e.message),
        );
        strictEqual(written.length, 0, "nothing may be written for a refused instruction");
      } finally {
        basis.close();
      }
    });
  };
  await refused("a block past the basis", 8192, (r) => r.copy(4, 1), /of a basis of 4 blocks/);
  await refused("a run past the basis", 8192, (r) => r.copy(2, 3), /of a basis of 4 blocks/);
  await refused("a zero-block copy", 8192, (r) => r.copy(0, 0), /copy of 0 blocks/);
  await refused("a negative block", 8192, (r) => r.copy(-1, 1), /from block -1/);
  await refused("a copy past the size", 1000, (r) => r.copy(0, 1), /passes the announced/);
  await refused("an empty literal", 10, (r) => r.literal(new Uint8Array(0)), /literal of 0/);
  await refused("a literal past the size", 10, (r) => r.literal(new Uint8Array(11)), /passes/);
  await t.step("a short result", async () => {
    const { rebuild, basis } = await make(2048);
    try {
      rebuild.copy(0, 1);
      throws(() => rebuild.finish(new Uint8Array(16)), /ended at 1024 of 2048/);
    } finally {
      basis.close();
    }
  });
  await t.step("a digest that does not match", async () => {
    const { rebuild, basis } = await make(1024);
    try {
      rebuild.copy(0, 1);
      throws(() => rebuild.finish(new Uint8Array(16)), /does not match the source's digest/);
    } finally {
      basis.close();
    }
  });
  await t.step("the right digest", async () => {
    const { rebuild, basis } = await make(1024);
    try {
      rebuild.copy(1, 1);
      const hash = await StrongHash.create();
      // The digest of the pieces: of one piece, the digest of its digest.
      rebuild.finish(hash.digestOf(hash.digestOf(bytesOf(4096, 9).subarray(1024, 2048))));
    } finally {
      basis.close();
    }
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("encodeDelta() describes a file that shrank as zeros and says so", async () => {
  const old = bytesOf(8192, 10);
  const dir = await Deno.makeTempDir({ prefix: "blit-delta-" });
  try {
    await Deno.writeFile(`${dir}/old`, old);
    using basis = await Deno.open(`${dir}/old`);
    const signature = await computeSignature(basis, { size: old.length, blockSize: 1024 });
    const delta = encodeDelta(ReadableStream.from([old.subarray(0, 3000)]).getReader(), {
      size: 8192,
      signature,
    });
    let bytes = 0;
    let step = await delta.next();
    for (; !step.done; step = await delta.next()) {
      bytes += step.value.kind === "literal"
        ? step.value.bytes.length
        : step.value.count * signature.blockSize;
    }
    strictEqual(bytes, 8192);
    strictEqual(step.value.problem?.status, "changed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
