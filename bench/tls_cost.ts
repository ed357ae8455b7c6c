/**
 * What TLS, or the daemon's mount namespace, costs a transfer: the same push and pull against
 * two real daemons on loopback, interleaved, each run into a fresh destination directory. With
 * `--compare tls` (the default) one daemon has `tls = true` and the other `tls = false`; with
 * `--compare confinement` both use TLS and one runs in its bubblewrap namespace
 * (`confinement = "namespace"`), the other with `confinement = "none"`. Prints the median wall
 * time of each and the ratio.
 *
 * Usage: `deno run -A bench/tls_cost.ts [--compare tls|confinement] [--rounds N] [--big-mib N]
 * [--small N]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startBlitDaemon } from "./blitd.ts";

const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    "big-mib": { type: "string", default: "1024" },
    small: { type: "string", default: "20000" },
    compare: { type: "string", default: "tls" },
  },
});
const rounds = Number(values.rounds);
const bigMib = Number(values["big-mib"]);
const smallCount = Number(values.small);

/** Runs `blit` with the task's flags; returns the wall time in milliseconds. */
async function blit(args: string[]): Promise<number> {
  const tasks = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/deno.json`)).tasks as Record<
    string,
    string
  >;
  const flags = (tasks.blit ?? "").split(/\s+/).filter((w) => w.startsWith("--"));
  const started = performance.now();
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${REPO_ROOT}/cli/main.ts`, ...args, "--no-history"],
    stdout: "null",
    stderr: "piped",
  }).output();
  const took = performance.now() - started;
  if (code !== 0) throw new Error(`blit ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return took;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

const root = await Deno.makeTempDir({ prefix: "blit-tls-cost-" });
console.log(`work directory ${root}; ${rounds} rounds; ${bigMib} MiB; ${smallCount} × 4 KiB`);
await Deno.mkdir(`${root}/big`);
{
  const block = new Uint8Array(1024 * 1024);
  for (let at = 0; at < block.length; at += 65536) {
    crypto.getRandomValues(block.subarray(at, at + 65536));
  }
  const file = await Deno.open(`${root}/big/big.bin`, { write: true, create: true });
  for (let i = 0; i < bigMib; i++) {
    block[0] = i & 0xff;
    await file.write(block);
  }
  file.close();
}
for (let i = 0; i < smallCount; i++) {
  const dir = `${root}/small/d${String(i % 200).padStart(3, "0")}`;
  if (i < 200) await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/f${i}`, crypto.getRandomValues(new Uint8Array(4096)));
}
type Mode = {
  name: string;
  flags: string[];
  tls: boolean;
  confinement: "auto" | "namespace" | "none";
};
const modes: Mode[] = values.compare === "confinement"
  ? [
    { name: "namespace", flags: [], tls: true, confinement: "namespace" },
    { name: "none", flags: [], tls: true, confinement: "none" },
  ]
  : [
    { name: "tls", flags: [], tls: true, confinement: "auto" },
    { name: "plain", flags: ["--no-tls"], tls: false, confinement: "auto" },
  ];
const [first, second] = modes as [Mode, Mode];
const daemons = new Map<string, { address: string; stop: () => Promise<void> }>();
for (const mode of modes) {
  const path = `${root}/module-${mode.name}`;
  await Deno.mkdir(path);
  await Deno.copyFile(`${root}/big/big.bin`, `${path}/big.bin`);
  daemons.set(
    mode.name,
    await startBlitDaemon(path, "m", { tls: mode.tls, confinement: mode.confinement }),
  );
}
type Workload = {
  name: string;
  run: (address: string, flags: string[], n: string) => Promise<number>;
};
const workloads: Workload[] = [
  {
    name: `push ${bigMib} MiB`,
    run: (a, f, n) => blit(["copy", `${root}/big/big.bin`, `${a}:/m/push-${n}/`, ...f]),
  },
  {
    name: `pull ${bigMib} MiB`,
    run: (a, f, n) => blit(["copy", `${a}:/m/big.bin`, `${root}/pulled-${n}/`, ...f]),
  },
  {
    name: `push ${smallCount} × 4 KiB`,
    run: (a, f, n) => blit(["copy", `${root}/small/`, `${a}:/m/small-${n}/`, ...f]),
  },
];
const times = new Map<string, number[]>();
try {
  for (let round = 0; round < rounds; round++) {
    for (const workload of workloads) {
      // Alternate which mode goes first, so that neither always runs on a warmer machine.
      const order = round % 2 === 0 ? modes : [...modes].reverse();
      for (const mode of order) {
        const daemon = daemons.get(mode.name)!;
        const key = `${workload.name}|${mode.name}`;
        const took = await workload.run(daemon.address, mode.flags, `${mode.name}-${round}`);
        times.set(key, [...(times.get(key) ?? []), took]);
        console.log(`round ${round + 1} ${workload.name} ${mode.name}: ${took.toFixed(0)} ms`);
      }
    }
  }
  console.log(`\n| workload | ${first.name} | ${second.name} | ratio |\n|---|---|---|---|`);
  for (const workload of workloads) {
    const on = median(times.get(`${workload.name}|${first.name}`) ?? []);
    const off = median(times.get(`${workload.name}|${second.name}`) ?? []);
    console.log(
      `| ${workload.name} | ${(on / 1000).toFixed(2)} s | ${(off / 1000).toFixed(2)} s | ${
        (on / off).toFixed(2)
      }× |`,
    );
  }
} finally {
  for (const daemon of daemons.values()) await daemon.stop();
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
