import { equal, ok } from "node:assert/strict";
import { startDaemon } from "./_daemon.ts";
import { makeTree, readTree, runBlit, withTempDir } from "./_helpers.ts";

/**
 * Runs before the CLI's own code (`deno run --preload`): the first touch of the global
 * `setTimeout` or `setInterval` is reported on stderr (it loads Deno's Node-compatible timer
 * module, ~9 ms of a client's main thread; `core/timer.ts` says why).
 */
const TIMER_TRAP = `
for (const name of ["setTimeout", "setInterval"]) {
  const original = Object.getOwnPropertyDescriptor(globalThis, name);
  Object.defineProperty(globalThis, name, {
    configurable: true,
    get() {
      console.error("timer-trap: " + name + " touched");
      Object.defineProperty(globalThis, name, original);
      return globalThis[name];
    },
  });
}
`;

Deno.test({
  name: "remote runs: a push, a pull and a mirror never load Deno's Node timer module",
  sanitizeResources: false,
  fn: async (t) => {
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/mod`);
      await makeTree(`${dir}/src`, { "a.txt": "alpha", "sub/b.txt": "beta" });
      const trap = `${dir}/trap.js`;
      await Deno.writeTextFile(trap, TIMER_TRAP);
      const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }]);
      const traced = { denoFlags: ["--preload", trap] };
      try {
        await t.step("the trap itself reports a touch", async () => {
          const probe = `${dir}/probe.ts`;
          await Deno.writeTextFile(probe, "setTimeout(() => {}, 0);\n");
          const out = await new Deno.Command(Deno.execPath(), {
            args: ["run", "--preload", trap, probe],
            stdout: "null",
            stderr: "piped",
          }).output();
          ok(new TextDecoder().decode(out.stderr).includes("timer-trap: setTimeout touched"));
        });
        await t.step("push", async () => {
          const r = await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/mod/in/`], traced);
          equal(r.code, 0, r.stderr);
          ok(!r.stderr.includes("timer-trap"), r.stderr);
          equal(await Deno.readTextFile(`${dir}/mod/in/sub/b.txt`), "beta");
        });
        await t.step("pull", async () => {
          const r = await runBlit(["copy", `${daemon.address}:/mod/in/`, `${dir}/out`], traced);
          equal(r.code, 0, r.stderr);
          ok(!r.stderr.includes("timer-trap"), r.stderr);
          equal(Object.keys(await readTree(`${dir}/out`)).sort().join(" "), "a.txt sub sub/b.txt");
        });
        await t.step("mirror with a deletion and a progress line", async () => {
          await Deno.remove(`${dir}/src/a.txt`);
          const r = await runBlit(
            ["mirror", "--yes", "--progress", `${dir}/src/`, `${daemon.address}:/mod/in/`],
            traced,
          );
          equal(r.code, 0, r.stderr);
          ok(!r.stderr.includes("timer-trap"), r.stderr);
          equal(Object.keys(await readTree(`${dir}/mod/in`)).sort().join(" "), "sub sub/b.txt");
        });
      } finally {
        await daemon.stop();
      }
    });
  },
});
