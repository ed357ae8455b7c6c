import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Prng } from "./prng.ts";
import { planMixed, PRESETS } from "./workloads.ts";
import {
  editedPieces,
  evaluate,
  growingSize,
  INSERT_BYTES,
  INSERTS,
  leftoverProblem,
  type MaterialEdits,
  materialise,
  mutatedListing,
  OVERWRITE_BYTES,
  OVERWRITES,
  parseDeltaArgs,
  parseNetDev,
  planBigEdits,
  planTreeMutation,
  selfReportedBytes,
} from "./delta.ts";

/** The new file built in one piece: overwrites in order, then the inserts. */
function applyWhole(old: Uint8Array, edits: MaterialEdits): Uint8Array {
  const out = old.slice();
  for (const w of edits.overwrites) {
    const end = Math.min(w.offset + w.bytes.byteLength, out.byteLength);
    out.set(w.bytes.subarray(0, end - w.offset), w.offset);
  }
  const parts: Uint8Array[] = [];
  let cut = 0;
  for (const ins of edits.inserts) {
    parts.push(out.subarray(cut, ins.offset), ins.bytes);
    cut = ins.offset;
  }
  parts.push(out.subarray(cut));
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.byteLength;
  }
  return joined;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

Deno.test("planBigEdits()", async (t) => {
  await t.step("is deterministic, sorted and within the file", () => {
    const size = 3 << 20;
    const edits = planBigEdits(size, 99);
    assertEquals(edits, planBigEdits(size, 99));
    assertEquals(edits.overwrites.length, OVERWRITES);
    assertEquals(edits.inserts.length, INSERTS);
    for (const list of [edits.overwrites, edits.inserts]) {
      for (let i = 1; i < list.length; i++) {
        assert((list[i - 1]?.offset ?? 0) <= (list[i]?.offset ?? 0));
      }
    }
    for (const w of edits.overwrites) {
      assert(w.offset >= 0 && w.offset + OVERWRITE_BYTES <= size && w.length === OVERWRITE_BYTES);
    }
    for (const ins of edits.inserts) {
      assert(ins.offset >= 0 && ins.offset < size && ins.length === INSERT_BYTES);
    }
  });
});

Deno.test("editedPieces() chunk by chunk equals the edits applied to the whole file", () => {
  const rng = new Prng(5);
  for (let trial = 0; trial < 50; trial++) {
    const size = 1 + rng.int(5000);
    const old = new Uint8Array(size);
    rng.fill(old);
    const edits: MaterialEdits = { overwrites: [], inserts: [] };
    for (let i = rng.int(5); i > 0; i--) {
      const bytes = new Uint8Array(1 + rng.int(300));
      rng.fill(bytes);
      edits.overwrites.push({ offset: rng.int(size), bytes });
    }
    for (let i = rng.int(5); i > 0; i--) {
      const bytes = new Uint8Array(1 + rng.int(50));
      rng.fill(bytes);
      edits.inserts.push({ offset: rng.int(size), bytes });
    }
    edits.inserts.sort((x, y) => x.offset - y.offset);
    const chunk = 1 + rng.int(700);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < size; at += chunk) {
      pieces.push(...editedPieces(old.subarray(at, Math.min(size, at + chunk)), at, edits));
    }
    assertEquals(concat(pieces), applyWhole(old, edits));
  }
});

Deno.test("materialise() gives each edit its length of bytes", () => {
  const m = materialise(planBigEdits(1 << 20, 3));
  for (const w of m.overwrites) assertEquals(w.bytes.byteLength, OVERWRITE_BYTES);
  for (const ins of m.inserts) assertEquals(ins.bytes.byteLength, INSERT_BYTES);
});

Deno.test("planTreeMutation()", async (t) => {
  const p = PRESETS.full;
  const files = planMixed(p);
  const m = planTreeMutation(files, p, 17);
  await t.step("touches 1% each, disjoint, deterministic", () => {
    assertEquals(m, planTreeMutation(files, p, 17));
    assertEquals([m.modify.length, m.add.length, m.remove.length], [20, 20, 20]);
    const modified = new Set(m.modify.map((e) => e.path));
    for (const path of m.remove) assert(!modified.has(path));
    const known = new Set(files.map((f) => f.path));
    for (const f of m.add) assert(!known.has(f.path));
  });
  await t.step("overwrites 64 KiB inside the file, or all of a smaller one", () => {
    for (const e of m.modify) {
      if (e.size < OVERWRITE_BYTES) assertEquals([e.offset, e.length], [0, e.size]);
      else assert(e.length === OVERWRITE_BYTES && e.offset + e.length <= e.size);
    }
  });
  await t.step("lists the mutated tree", () => {
    const listing = mutatedListing(files, m);
    assertEquals(listing.size, files.length);
    for (const path of m.remove) assert(!listing.has(path));
    for (const f of m.add) assertEquals(listing.get(f.path), f.size);
  });
});

Deno.test("parseNetDev() reads receive field 1 and transmit field 9", () => {
  const text = [
    "Inter-|   Receive                                                |  Transmit",
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets",
    "    lo: 300 22 0 0 0 0 0 0 301 23 0 0 0 0 0 0",
    "  eth0: 107 39 0 0 0 0 0 0 251 30 0 0 0 0 0 0",
  ].join("\n");
  const parsed = parseNetDev(text);
  assertEquals([...parsed.keys()], ["lo", "eth0"]);
  assertEquals(parsed.get("lo"), { rx: 300, tx: 301 });
});

Deno.test("selfReportedBytes() reads bytes_on_wire, null otherwise", () => {
  assertEquals(selfReportedBytes('{"outcome":"transferred","bytes_on_wire":123}'), 123);
  assertEquals(selfReportedBytes('{"outcome":"transferred"}'), null);
  assertEquals(selfReportedBytes("not json"), null);
});

Deno.test("parseDeltaArgs()", () => {
  assertEquals(parseDeltaArgs([]).runs, 5);
  assertEquals(parseDeltaArgs(["--quick"]).runs, 3);
  assertEquals(parseDeltaArgs(["--quick", "--runs", "1"]).runs, 1);
  assertEquals(parseDeltaArgs([]).only, ["f", "g", "h"]);
  assertEquals(parseDeltaArgs(["--only", "h,f"]).only, ["f", "h"]);
  assertEquals(parseDeltaArgs(["--only", "g"]).only, ["g"]);
  assertEquals(parseDeltaArgs(["--dir", "/x/"]).dir, "/x");
  for (const bad of [["--runs", "0"], ["--only", "a"], ["--nope"]]) {
    let threw = false;
    try {
      parseDeltaArgs(bad);
    } catch {
      threw = true;
    }
    assert(threw, bad.join(" "));
  }
});

Deno.test("evaluate() marks the targets", () => {
  const col = (label: string, s: number, wire: number) => ({
    label,
    seconds: [s],
    wireBytes: [wire],
    selfReportedBytes: [],
    failures: [],
    medianSeconds: s,
    medianWireBytes: wire,
    medianSelfReportedBytes: null,
  });
  const columns = [
    col("rsyncd push", 1, 1000),
    col("rsyncd pull", 1, 1000),
    col("blit push", 0.9, 1500),
    col("blit pull", 1.1, 1200),
  ];
  const f = evaluate("f", 100_000, columns);
  assertEquals(f.targets.map((t) => t.met), [true, true, true, false]);
  const h = evaluate("h", 100_000, columns);
  assertEquals(h.targets.map((t) => t.met), [false, true]);
});

Deno.test("evaluate() marks the (g) targets: rerun wire share, and no failed run", () => {
  const col = (label: string, wire: number, kept: number, failures: string[] = []) => ({
    label,
    seconds: failures.length > 0 ? [] : [1],
    wireBytes: failures.length > 0 ? [] : [wire],
    selfReportedBytes: [],
    failures,
    medianSeconds: failures.length > 0 ? null : 1,
    medianWireBytes: failures.length > 0 ? null : wire,
    medianSelfReportedBytes: null,
    partialBytes: failures.length > 0 ? [] : [kept],
    medianPartialBytes: failures.length > 0 ? null : kept,
  });
  const g = evaluate("g", 1000, [
    col("rsyncd push", 600, 500),
    col("rsyncd pull", 600, 500),
    col("blit push", 520, 500),
    col("blit pull", 0, 0, ["wrong result"]),
  ]);
  assertEquals(g.ratios["blit push wire/file"], 0.52);
  assertEquals(g.ratios["blit push kept/file"], 0.5);
  assertEquals(g.ratios["rsyncd pull kept/file"], 0.5);
  assertEquals(
    g.targets.map((t) => [t.name, t.value, t.met]),
    [
      ["(g) blit push rerun wire/file", 0.52, true],
      ["(g) blit push final file identical, no partial left", 0, true],
      ["(g) blit pull rerun wire/file", null, null],
      ["(g) blit pull final file identical, no partial left", 1, false],
    ],
  );
});

Deno.test("growingSize() takes the largest file with the prefix, any file for null", () => {
  const files = [
    { name: ".blit-partial-a", size: 10 },
    { name: ".blit-partial-b", size: 30 },
    { name: "big.bin", size: 50 },
  ];
  assertEquals(growingSize(files, ".blit-partial-"), 30);
  assertEquals(growingSize(files, null), 50);
  assertEquals(growingSize(files, ".x"), 0);
  assertEquals(growingSize([], null), 0);
});

Deno.test("leftoverProblem() accepts exactly the file and names what else is there", () => {
  assertEquals(leftoverProblem(["big.bin"], "big.bin"), undefined);
  assertEquals(leftoverProblem([], "big.bin"), '"big.bin" is missing');
  const partial = ".blit-partial-2-3-abcdef-big.bin";
  assertEquals(
    leftoverProblem(["big.bin", partial, ".big.bin.Xy12Ab"], "big.bin"),
    `blit temporaries were left: "${partial}"; other entries were left: ".big.bin.Xy12Ab"`,
  );
  assertEquals(
    leftoverProblem([".blit-tmp-1-2-big.bin"], "big.bin"),
    '"big.bin" is missing; blit temporaries were left: ".blit-tmp-1-2-big.bin"',
  );
});
