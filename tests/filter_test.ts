import { equal, throws } from "node:assert/strict";
import { compileFilter } from "../core/filter.ts";

Deno.test("compileFilter()", async (t) => {
  await t.step("no rules include everything", () => {
    equal(compileFilter([])("a/b", false), true);
  });
  await t.step("a pattern without '/' matches a name at any depth", () => {
    const f = compileFilter([{ action: "exclude", pattern: "*.log" }]);
    equal(f("x.log", false), false);
    equal(f("a/b/c/x.log", false), false);
    equal(f("a/x.txt", false), true);
  });
  await t.step("a trailing '/' matches directories only", () => {
    const f = compileFilter([{ action: "exclude", pattern: "cache/" }]);
    equal(f("a/cache", true), false);
    equal(f("a/cache", false), true);
  });
  await t.step("a pattern with '/' matches the whole path; a leading '/' anchors", () => {
    const f = compileFilter([{ action: "exclude", pattern: "/top/*.tmp" }]);
    equal(f("top/a.tmp", false), false);
    equal(f("x/top/a.tmp", false), true);
    const g = compileFilter([{ action: "exclude", pattern: "**/build/out" }]);
    equal(g("a/b/build/out", true), false);
  });
  await t.step("the first matching rule wins", () => {
    const f = compileFilter([
      { action: "include", pattern: "keep.log" },
      { action: "exclude", pattern: "*.log" },
    ]);
    equal(f("d/keep.log", false), true);
    equal(f("d/drop.log", false), false);
  });
  await t.step("dotfiles match wildcards", () => {
    equal(compileFilter([{ action: "exclude", pattern: "*" }])(".hidden", false), false);
  });
  await t.step("an empty pattern is refused", () => {
    throws(() => compileFilter([{ action: "exclude", pattern: "" }]), TypeError);
  });
});
