import { equal, ok } from "node:assert/strict";
import { startDaemon } from "./_daemon.ts";
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
    throw new Error(`soak client failed: ${new TextDecoder().decode(out.stderr)}`);
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

Deno.test({
  name: "grpc soak: 5,000+ calls with graceful closes and abrupt kills; the daemon keeps serving",
  sanitizeResources: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/mod`);
      const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }]);
      try {
        let total = 0;
        // Connections of varied length, each ended by a graceful channel close (the pattern that
        // aborts a grpc-js server under Deno 2.9.6 without a defence), plus exits and kills.
        for (const calls of [1, 5, 20, 150, 300, 600, 2000]) {
          total += await soak(daemon.address, calls, "close");
        }
        for (const calls of [50, 400]) total += await soak(daemon.address, calls, "exit");
        for (let i = 0; i < 3; i++) await soakKilled(daemon.address);
        total += await soak(daemon.address, 1500, "close");
        ok(total >= 5000, `made ${total} calls`);
        // Still serving, on the same server process (no supervisor restart was needed).
        const r = await runBlit(["copy", `${REPO}/README.md`, `${daemon.address}:/mod/readme.md`]);
        equal(r.code, 0, r.stderr);
        ok(daemon.running());
        ok(!/restart/i.test(daemon.log()), `the server process never died:\n${daemon.log()}`);
      } finally {
        await daemon.stop();
      }
    });
  },
});
