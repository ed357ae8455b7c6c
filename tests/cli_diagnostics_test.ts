import { deepStrictEqual, equal, match } from "node:assert/strict";
import { makeTree, runBlit, withTempDir } from "./_helpers.ts";

Deno.test("blit diagnostics perf: records real runs, limits, clears, disables", async () => {
  await withTempDir(async (dir) => {
    const env = { XDG_CONFIG_HOME: `${dir}/config` };
    await makeTree(`${dir}/src`, { "a": "1", "b": "22" });
    equal((await runBlit(["copy", `${dir}/src/`, `${dir}/d1`], { env })).code, 0);
    equal((await runBlit(["mirror", `${dir}/src/`, `${dir}/d1`, "--yes"], { env })).code, 0);
    equal((await runBlit(["copy", `${dir}/src/`, `${dir}/d2`, "-n"], { env })).code, 0);
    const all = JSON.parse((await runBlit(["diagnostics", "perf", "--json"], { env })).stdout);
    deepStrictEqual(all.map((r: { operation: string }) => r.operation), ["copy", "mirror"]);
    equal(all[0].files_transferred, 2);
    equal(all[0].bytes, 3);
    equal(all[0].transport, "local");
    const one = JSON.parse(
      (await runBlit(["diagnostics", "perf", "--json", "--limit", "1"], { env })).stdout,
    );
    equal(one.length, 1);
    equal(one[0].operation, "mirror");
    match((await runBlit(["diagnostics", "perf"], { env })).stdout, /recording on/);
    equal((await runBlit(["diagnostics", "perf", "--disable"], { env })).code, 0);
    equal((await runBlit(["copy", `${dir}/src/`, `${dir}/d3`], { env })).code, 0);
    equal(JSON.parse((await runBlit(["diagnostics", "perf", "--json"], { env })).stdout).length, 2);
    equal((await runBlit(["diagnostics", "perf", "--enable"], { env })).code, 0);
    equal((await runBlit(["diagnostics", "perf", "--clear"], { env })).code, 0);
    deepStrictEqual(
      JSON.parse((await runBlit(["diagnostics", "perf", "--json"], { env })).stdout),
      [],
    );
    const bad = await runBlit(["diagnostics", "perf", "--limit", "0"], { env });
    equal(bad.code, 1);
    match(bad.stderr, /--limit/);
  });
});
