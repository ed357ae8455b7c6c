import { equal, match } from "node:assert/strict";
import { hashFileNative, hashFileWasm, hashPath } from "../core/hash.ts";
import { withTempDir } from "./_helpers.ts";

Deno.test("hashFileNative() and hashFileWasm() give identical xxHash3-64 digests", async () => {
  await withTempDir(async (dir) => {
    const sizes = [0, 1, 240, 4096, 5 * 1024 * 1024 + 17];
    for (const size of sizes) {
      const data = new Uint8Array(size);
      for (let i = 0; i < size; i++) data[i] = (i * 2654435761) >>> 24;
      const path = `${dir}/f${size}`;
      await Deno.writeFile(path, data);
      const native = await hashPath(hashFileNative, path);
      const wasm = await hashPath(hashFileWasm, path);
      match(native, /^[0-9a-f]{16}$/);
      equal(native, wasm, `size ${size}`);
    }
    // Known answer: XXH3-64 of the empty input with seed 0.
    equal(await hashPath(hashFileWasm, `${dir}/f0`), "2d06800538d394c2");
  });
});
