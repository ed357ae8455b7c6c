import { equal, ok } from "node:assert/strict";
import { startDaemon, type TestDaemon } from "./_daemon.ts";
import { REPO, runBlit, withTempDir } from "./_helpers.ts";

const CLIENT = `${REPO}/tests/fixtures/soak_client.ts`;

async function soak(address: string, calls: number, mode: "close" | "exit"): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      CLIENT,
      address,
      String(calls),
      mode,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const match = text.match(/calls (\d+)/);
  if (out.code !== 0 || !match) {
    throw new Error(`soak client failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
  }
  return Number(match[1]);
}

async function soakKilled(address: string): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", CLIENT, address, "400", "hang"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("first call done")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  await new Promise((r) => setTimeout(r, 30));
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel().catch(() => {});
}

function assertServing(daemon: TestDaemon): void {
  ok(daemon.running(), "the launcher is running");
  ok(
    !/restart|SIGABRT|Aborted|invalid pointer/i.test(daemon.log()),
    `the server died:\n${daemon.log()}`,
  );
}

Deno.test({
  name: "grpc soak: 5,000+ calls with graceful closes, exits and kills; the server never dies",
  sanitizeResources: false,
  fn: async (t) => {
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/mod`);
      let total = 0;
      // A fresh daemon per round with the heavy client first: a server whose first connection
      // carried few calls hides the abort (measured), so each round starts cold.
      for (
        const [calls, end] of [[2000, "close"], [600, "close"], [150, "close"], [
          400,
          "exit",
        ]] as const
      ) {
        await t.step(`${calls} calls then ${end} on a fresh daemon`, async () => {
          const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }]);
          try {
            total += await soak(daemon.address, calls, end);
            await new Promise((r) => setTimeout(r, 300));
            assertServing(daemon);
          } finally {
            await daemon.stop();
          }
        });
      }
      await t.step("mixed lengths, closes and kills on one daemon, then a transfer", async () => {
        const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }]);
        try {
          for (const calls of [1, 5, 20, 80, 300, 1500]) {
            total += await soak(daemon.address, calls, "close");
          }
          for (let i = 0; i < 3; i++) await soakKilled(daemon.address);
          const r = await runBlit([
            "copy",
            `${REPO}/README.md`,
            `${daemon.address}:/mod/readme.md`,
          ]);
          equal(r.code, 0, r.stderr);
          assertServing(daemon);
        } finally {
          await daemon.stop();
        }
      });
      ok(total >= 5000, `made ${total} calls`);
    });
  },
});
