import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Prng } from "./prng.ts";
import {
  ContentSource,
  manifestOf,
  mutatedManifest,
  planMixed,
  planMutation,
  planSmall,
  PRESETS,
} from "./workloads.ts";
import { median, renderTable, summarise } from "./report.ts";
import { parseBenchArgs } from "./run.ts";

Deno.test("Prng", async (t) => {
  await t.step("gives equal sequences for equal seeds", () => {
    const a = new Prng(42);
    const b = new Prng(42);
    for (let i = 0; i < 100; i++) assertEquals(a.nextU32(), b.nextU32());
  });
  await t.step("keeps logUniform within bounds", () => {
    const rng = new Prng(1);
    for (let i = 0; i < 10_000; i++) {
      const n = rng.logUniform(1024, 8 << 20);
      assert(n >= 1024 && n <= 8 << 20);
    }
  });
});

Deno.test("planMixed()", async (t) => {
  await t.step("is deterministic and near the reference size", () => {
    const a = planMixed(PRESETS.full);
    assertEquals(a, planMixed(PRESETS.full));
    assertEquals(a.length, 2000);
    const bytes = a.reduce((sum, f) => sum + f.size, 0);
    assert(bytes > 1.6e9 && bytes < 2.2e9, `total ${bytes}`);
  });
});

Deno.test("planSmall()", async (t) => {
  await t.step("spreads the files over the dirs", () => {
    const files = planSmall(PRESETS.full);
    assertEquals(files.length, 20_000);
    assertEquals(new Set(files.map((f) => f.path.split("/")[0])).size, 200);
  });
});

Deno.test("planMutation()", async (t) => {
  await t.step("modifies, deletes and adds 1% each, disjointly", () => {
    const files = planMixed(PRESETS.full);
    const m = planMutation(files, PRESETS.full);
    assertEquals([m.modify.length, m.remove.length, m.add.length], [20, 20, 20]);
    const removed = new Set(m.remove);
    assert(m.modify.every((f) => !removed.has(f.path)));
    const existing = manifestOf(files);
    assert(m.add.every((f) => !existing.has(f.path)));
    assertEquals(mutatedManifest(files, m).size, 2000);
  });
});

Deno.test("ContentSource", async (t) => {
  await t.step("gives the same bytes for the same seed and different for another", () => {
    const content = new ContentSource(5);
    const a = new Uint8Array(4096);
    const b = new Uint8Array(4096);
    const c = new Uint8Array(4096);
    content.chunk(a, 1, 0);
    new ContentSource(5).chunk(b, 1, 0);
    content.chunk(c, 2, 0);
    assertEquals(a, b);
    assert(a.some((byte, i) => byte !== c[i]));
  });
});

Deno.test("renderTable()", async (t) => {
  await t.step("prints medians, FAIL and ratios", () => {
    const table = renderTable([{
      id: "a",
      section: "local",
      title: "t",
      columns: [summarise("blit", [1, 3, 2], []), summarise("cp -a", [4], [])],
    }, {
      id: "b",
      section: "local",
      title: "t",
      columns: [summarise("blit", [], ["exit code 1"]), summarise("cp -a", [1], [])],
    }], [["blit", "cp -a"]]);
    const lines = table.split("\n");
    assert(lines[0]?.includes("blit/cp -a"));
    assert(lines[1]?.includes("2.00 s") && lines[1].includes("0.50x"));
    assert(lines[2]?.includes("FAIL") && lines[2].includes("–"));
    assertEquals(median([]), null);
  });
});

Deno.test("parseBenchArgs()", async (t) => {
  await t.step("applies the quick defaults and filters", () => {
    const opts = parseBenchArgs(["--quick", "--only", "e,b", "--tools", "rsync,cp"]);
    assertEquals([opts.preset, opts.runs, opts.only, opts.tools], ["quick", 3, ["b", "e"], [
      "cp",
      "rsync",
    ]]);
  });
  await t.step("rejects an unknown workload", () => {
    let message = "";
    try {
      parseBenchArgs(["--only", "z"]);
    } catch (error) {
      message = String(error);
    }
    assert(message.includes("Cannot use workload"));
  });
});
