import { equal, rejects } from "node:assert/strict";
import { compileFilter } from "../core/filter.ts";

Deno.test("compileFilter()", async (t) => {
  await t.step("no rules include everything", async () => {
    equal((await compileFilter([]))("a/b", false), true);
  });
  await t.step("a pattern without '/' matches a name at any depth", async () => {
    const f = await compileFilter([{ action: "exclude", pattern: "*.log" }]);
    equal(f("x.log", false), false);
    equal(f("a/b/c/x.log", false), false);
    equal(f("a/x.txt", false), true);
  });
  await t.step("a trailing '/' matches directories only", async () => {
    const f = await compileFilter([{ action: "exclude", pattern: "cache/" }]);
    equal(f("a/cache", true), false);
    equal(f("a/cache", false), true);
  });
  await t.step("a pattern with '/' matches the whole path; a leading '/' anchors", async () => {
    const f = await compileFilter([{ action: "exclude", pattern: "/top/*.tmp" }]);
    equal(f("top/a.tmp", false), false);
    equal(f("x/top/a.tmp", false), true);
    const g = await compileFilter([{ action: "exclude", pattern: "**/build/out" }]);
    equal(g("a/b/build/out", true), false);
  });
  await t.step("the first matching rule wins", async () => {
    const f = await compileFilter([
      { action: "include", pattern: "keep.log" },
      { action: "exclude", pattern: "*.log" },
    ]);
    equal(f("d/keep.log", false), true);
    equal(f("d/drop.log", false), false);
  });
  await t.step("dotfiles match wildcards", async () => {
    equal((await compileFilter([{ action: "exclude", pattern: "*" }]))(".hidden", false), false);
  });
  await t.step("an empty pattern is refused", async () => {
    await rejects(compileFilter([{ action: "exclude", pattern: "" }]), TypeError);
  });
});
