import { equal, throws } from "node:assert/strict";
import { compileGlob } from "../core/glob.ts";

Deno.test("compileGlob()", async (t) => {
  await t.step("stars stay inside a segment; ** crosses segments", () => {
    equal(compileGlob("*.log")("x.log"), true);
    equal(compileGlob("*.log")("a/x.log"), false);
    equal(compileGlob("**/*.log")("a/b/x.log"), true);
    equal(compileGlob("**/*.log")("x.log"), true);
    equal(compileGlob("a/**/z")("a/z"), true);
    equal(compileGlob("a/**/z")("a/b/c/z"), true);
    equal(compileGlob("a/**/z")("b/z"), false);
  });
  await t.step("classes, ranges, negation, braces, escapes, dot names", () => {
    equal(compileGlob("f[0-9].{ts,js}")("f7.js"), true);
    equal(compileGlob("f[!0-9]")("f7"), false);
    equal(compileGlob("\\*")("*"), true);
    equal(compileGlob("\\*")("x"), false);
    equal(compileGlob("*")(".hidden"), true);
    equal(compileGlob("?")("é"), true);
  });
  await t.step("case-insensitive matching", () => {
    equal(compileGlob("*.JPG", { caseInsensitive: true })("a.jpg"), true);
    equal(compileGlob("*.JPG")("a.jpg"), false);
  });
  await t.step("patterns that make regex globs backtrack stay fast", () => {
    const evil = compileGlob("*a*a*a*a*a*a*a*a*b");
    const started = performance.now();
    for (let i = 0; i < 100; i++) equal(evil("a".repeat(300)), false);
    const deep = compileGlob("**/**/**/**/**/**/x");
    equal(deep(Array.from({ length: 60 }, () => "d").join("/")), false);
    const ms = performance.now() - started;
    equal(ms < 2000, true, `took ${ms} ms`);
  });
  await t.step("bad patterns are refused", () => {
    throws(() => compileGlob("[abc"), TypeError);
    throws(() => compileGlob("x".repeat(5000)), TypeError);
  });
});
