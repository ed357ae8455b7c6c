import { equal } from "node:assert/strict";
import { needsTransfer, sameMtime } from "../core/compare.ts";

Deno.test("needsTransfer()", async (t) => {
  const a = { size: 10, mtimeMs: 1_000.4 };
  await t.step("size-mtime: equal size and mtime (to the ms) is skipped", () => {
    equal(needsTransfer(a, { size: 10, mtimeMs: 1_000.9 }, "size-mtime"), false);
    equal(needsTransfer(a, { size: 11, mtimeMs: 1_000 }, "size-mtime"), true);
    equal(needsTransfer(a, { size: 10, mtimeMs: 1_001 }, "size-mtime"), true);
  });
  await t.step("size-only ignores mtimes", () => {
    equal(needsTransfer(a, { size: 10, mtimeMs: 5 }, "size-only"), false);
    equal(needsTransfer(a, { size: 9, mtimeMs: 1_000 }, "size-only"), true);
  });
  await t.step("checksum defers to digests only when sizes match", () => {
    equal(needsTransfer(a, { size: 10, mtimeMs: 5 }, "checksum"), "hash");
    equal(needsTransfer(a, { size: 9, mtimeMs: 5 }, "checksum"), true);
  });
  await t.step("ignore-times always transfers", () => {
    equal(needsTransfer(a, a, "ignore-times"), true);
  });
  await t.step("sameMtime() compares whole milliseconds", () => {
    equal(sameMtime(1.2, 1.9), true);
    equal(sameMtime(1.9, 2.0), false);
  });
});
