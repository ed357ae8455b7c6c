import { equal, throws } from "node:assert/strict";
import { UsageError } from "../core/errors.ts";
import { absolutePath, resolveRoots } from "../core/target.ts";
import { makeTree, withTempDir } from "./_helpers.ts";

Deno.test("absolutePath() normalises lexically", () => {
  equal(absolutePath("/a//b/./c/../d/"), "/a/b/d");
  equal(absolutePath("/"), "/");
});

Deno.test("resolveRoots()", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(dir, { "src/f": "x", "out/keep": "y" });
    await t.step("SRC/ maps contents onto DST", () => {
      const r = resolveRoots("copy", `${dir}/src/`, `${dir}/new`);
      equal(r.target, `${dir}/new`);
      equal(r.contentsOnly, true);
    });
    await t.step("SRC into an existing dir or DST/ appends the name", () => {
      equal(resolveRoots("copy", `${dir}/src`, `${dir}/out`).target, `${dir}/out/src`);
      equal(resolveRoots("copy", `${dir}/src`, `${dir}/new/`).target, `${dir}/new/src`);
    });
    await t.step("overlaps are refused", () => {
      throws(() => resolveRoots("copy", `${dir}/src/`, `${dir}/src`), UsageError);
      throws(() => resolveRoots("copy", `${dir}/src/`, `${dir}/src/x`), UsageError);
      throws(() => resolveRoots("mirror", `${dir}/out/`, `${dir}`), UsageError);
      throws(() => resolveRoots("copy", `${dir}/missing`, `${dir}/x`), UsageError);
    });
  });
});
