/**
 * The benchmark harness (`deno task bench`): times blit against `cp -a`, `tar | tar` and
 * `rsync -a` on the reference workloads, tools interleaved run by run, and prints medians and
 * ratios. With `--remote`, also times rsync-daemon push and pull over loopback.
 *
 * Every timed run starts the same way: remove the destination (or clone the synced base for
 * mirrors), `sync`, drop the page cache when allowed, then re-read the source (and, for mirrors,
 * the destination) so each tool starts with a warm, equal cache, and run the column's own command
 * once on a tiny tree (`ROOT/warmup`, see `makeWarmupTree`) so that what the timed run loads is in
 * memory as it is for someone who uses the tool regularly: Deno's ~100 MB runtime (~110 ms to
 * read from disk, measured) and, for blit, the modules and caches of that route (a no-op pull
 * of (e) took 0.53 s after `blit --version` and 0.41 s after a tiny pull, medians of 4; rsync
 * 0.37 and 0.39 s). Every run is verified (paths and sizes); a tool that fails shows `FAIL`,
 * never a number.
 *
 * @module
 */

import { type BlitDaemon, startBlitDaemon } from "./blitd.ts";
import { parseArgs } from "node:util";
import {
  prepareWorkloads,
  type PresetName,
  type Workload,
  WORKLOAD_IDS,
  type WorkloadId,
} from "./workloads.ts";
import { diffManifests, listTree, type Manifest } from "./tree.ts";
import {
  canDropCaches,
  cloneTree,
  exists,
  findInPath,
  FREE_PAGE_REPORTING_NOTE,
  freePageReporting,
  moveToTrash,
  purgeTrash,
  removeTree,
  runQuiet,
  syncAndDrop,
  warmTree,
} from "./system.ts";
import {
  blitDaemonTools,
  type RemoteTool,
  REPO_ROOT,
  resolveTools,
  rsyncDaemonTools,
  type Tool,
  TOOL_NAMES,
  type ToolName,
} from "./tools.ts";
import {
  type BenchReport,
  formatSeconds,
  renderTable,
  summarise,
  type WorkloadResult,
} from "./report.ts";
import { type RsyncDaemon, startRsyncDaemon } from "./rsyncd.ts";
import {
  type ClientTrees,
  type Column,
  labelSlug,
  makeWarmupTree,
  remoteColumns,
  renderExtras,
  timeRemoteExtras,
  WARMUP_DIR,
  WARMUP_SOURCE,
} from "./remote.ts";

const HELP = `blit bench: time blit against cp -a, tar|tar and rsync -a

Usage: deno task bench [options]

Options:
  --quick            scaled-down workloads and 3 runs (whole run under 2 minutes)
  --runs N           timed runs per tool and workload (default 7, quick 3)
  --only a,b,...     workloads: a big file, b small files, c mixed, d mutated mirror, e no-op mirror
  --tools LIST       tools to time, from blit,cp,tar,rsync (default all)
  --dir PATH         work directory for generated data (default /tmp/blit-bench)
  --json PATH        also write the results as JSON
  --remote           also time push/pull over loopback, against an rsync daemon and a blit
                     daemon with TLS on and one with TLS off, on every selected workload; then
                     16 clients pushing at once (2,000 files each, then one file each),
                     and the first byte of a push
  --tls on|off|both  with --remote: which blit daemons to start (default both)
  --remote-only      with --remote: skip the local section
  --no-extras        with --remote: skip the 16 clients and the first byte
  --no-delta         with --remote: skip the delta and resume workloads (f, g, h), which
                     run as \`deno task bench:delta\` does: in a private network namespace
                     (unshare -n), so that the loopback counters count only their bytes
  --blit-daemon ADDR with --remote: time blit push/pull against a running blit daemon at ADDR
                     (127.0.0.1:PORT, module "bench" rooted at DIR/PRESET, TLS on); also
                     BLIT_BENCH_DAEMON
  -h, --help         this help
`;

/** Parsed command line. */
export interface BenchOptions {
  /** Workload size preset. */
  preset: PresetName;
  /** Timed runs per tool and workload. */
  runs: number;
  /** Workloads to run. */
  only: WorkloadId[];
  /** Tools to time. */
  tools: ToolName[];
  /** Work directory. */
  dir: string;
  /** Where to write JSON results, if anywhere. */
  json?: string;
  /** Whether to run the remote section. */
  remote: boolean;
  /** Address of a running blit daemon for the remote section, if any. */
  blitDaemon?: string;
  /** Which blit daemons the remote section starts. */
  tls: "on" | "off" | "both";
  /** Skip the local section (with `remote`). */
  remoteOnly: boolean;
  /** Run the 16-client and first-byte measurements (with `remote`). */
  extras: boolean;
  /** Run the delta and resume workloads (with `remote`, see `bench/delta.ts`). */
  delta: boolean;
  /** Whether help was asked for. */
  help: boolean;
}

function splitList<T extends string>(text: string, allowed: readonly T[], what: string): T[] {
  const out: T[] = [];
  for (const item of text.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new TypeError(`Cannot use ${what} "${item}": expected one of ${allowed.join(",")}`);
    }
    if (!out.includes(item as T)) out.push(item as T);
  }
  if (out.length === 0) throw new TypeError(`Cannot use an empty ${what} list`);
  return out;
}

/**
 * Parses the bench's command line.
 * @param argv Arguments.
 * @throws {TypeError} On an unknown option or a bad value.
 * @returns The options.
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { parseBenchArgs } from "./run.ts";
 * assertEquals(parseBenchArgs(["--quick", "--only", "b,e"]).runs, 3);
 * ```
 */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean", default: false },
      runs: { type: "string" },
      only: { type: "string" },
      tools: { type: "string" },
      dir: { type: "string", default: "/tmp/blit-bench" },
      json: { type: "string" },
      remote: { type: "boolean", default: false },
      "blit-daemon": { type: "string" },
      tls: { type: "string", default: "both" },
      "remote-only": { type: "boolean", default: false },
      "no-extras": { type: "boolean", default: false },
      "no-delta": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const preset: PresetName = values.quick ? "quick" : "full";
  let runs = preset === "quick" ? 3 : 7;
  if (values.runs !== undefined) {
    runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1) {
      throw new TypeError(`Cannot use --runs "${values.runs}": expected a positive integer`);
    }
  }
  const only = values.only === undefined
    ? [...WORKLOAD_IDS]
    : splitList(values.only, WORKLOAD_IDS, "workload");
  const tools = values.tools === undefined
    ? [...TOOL_NAMES]
    : splitList(values.tools, TOOL_NAMES, "tool");
  const blitDaemon = values["blit-daemon"] ?? Deno.env.get("BLIT_BENCH_DAEMON");
  const tls = values.tls;
  if (tls !== "on" && tls !== "off" && tls !== "both") {
    throw new TypeError(`Cannot use --tls "${tls}": expected on, off or both`);
  }
  return {
    tls,
    remoteOnly: values["remote-only"],
    extras: !values["no-extras"],
    delta: !values["no-delta"],
    preset,
    runs,
    only: WORKLOAD_IDS.filter((id) => only.includes(id)),
    tools: TOOL_NAMES.filter((t) => tools.includes(t)),
    dir: values.dir.replace(/\/+$/, "") || "/",
    ...(values.json === undefined ? {} : { json: values.json }),
    remote: values.remote,
    ...(blitDaemon === undefined || blitDaemon === "" ? {} : { blitDaemon }),
    help: values.help,
  };
}

/** Shared state of a bench run. */
interface Context {
  runs: number;
  drop: boolean;
}

/** The rows with only the columns whose label passes `keep`. */
function onlyColumns(rows: WorkloadResult[], keep: (label: string) => boolean): WorkloadResult[] {
  return rows.map((row) => ({ ...row, columns: row.columns.filter((c) => keep(c.label)) }));
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Resets, warms, times and verifies one run of one column. */
async function timeColumn(
  column: Column,
  expected: Manifest,
  ctx: Context,
): Promise<{ seconds: number } | { failure: string }> {
  // Move the previous result aside instead of deleting it: files created right after an
  // `rm -rf` of a large tree are much slower on this ext4, and that would time the kernel, not
  // the tool. The trash is purged once per round (see timeWorkload).
  await moveToTrash(column.dst);
  if (column.base !== undefined) await cloneTree(column.base, column.dst);
  await syncAndDrop(ctx.drop);
  for (const root of column.warm) await warmTree(root);
  await runQuiet(column.warmup.cmd, column.warmup.args, {
    ...(column.warmup.cwd === undefined ? {} : { cwd: column.warmup.cwd }),
  });
  const inv = column.invocation;
  const result = await runQuiet(inv.cmd, inv.args, inv.cwd === undefined ? {} : { cwd: inv.cwd });
  if (column.misparsePath !== undefined && await exists(column.misparsePath)) {
    return {
      failure: `the command created the local path "${column.misparsePath}": ` +
        "it treated the remote endpoint as a local path (remove that directory)",
    };
  }
  if (result.code !== 0) {
    const tail = result.stderr.split("\n").slice(-3).join(" | ").slice(0, 400);
    return { failure: `exit code ${result.code}: ${tail}` };
  }
  let actual: Manifest;
  try {
    actual = await listTree(column.dst);
  } catch (error) {
    return { failure: `Cannot list destination: ${String(error)}` };
  }
  const problem = diffManifests(expected, actual);
  return problem === undefined
    ? { seconds: result.seconds }
    : { failure: `wrong result: ${problem}` };
}

/**
 * Times several columns on one workload, interleaved: run r uses the column order rotated by r.
 * A column that fails once is not run again for this workload.
 */
async function timeWorkload(
  id: string,
  section: "local" | "remote",
  title: string,
  columns: Column[],
  expected: Manifest,
  ctx: Context,
): Promise<WorkloadResult> {
  const seconds = new Map<string, number[]>(columns.map((c) => [c.label, []]));
  const failures = new Map<string, string[]>(columns.map((c) => [c.label, []]));
  for (let r = 0; r < ctx.runs; r++) {
    const parts: string[] = [];
    for (const column of rotate(columns, r)) {
      const failed = failures.get(column.label) ?? [];
      if (failed.length > 0) continue;
      const outcome = await timeColumn(column, expected, ctx);
      if ("seconds" in outcome) {
        seconds.get(column.label)?.push(outcome.seconds);
        parts.push(`${column.label} ${formatSeconds(outcome.seconds)}`);
      } else {
        failed.push(outcome.failure);
        parts.push(`${column.label} FAILED`);
        console.log(`  (${id}) ${column.label} failed: ${outcome.failure}`);
      }
    }
    console.log(`  (${id}) run ${r + 1}/${ctx.runs}: ${parts.join(" | ")}`);
    // Purge once per round: every tool is first in a round equally often (rotation), so the
    // slow-after-delete effect falls on each of them alike.
    await purgeTrash(columns.map((c) => c.dst));
  }
  return {
    id,
    section,
    title,
    columns: columns.map((c) =>
      summarise(c.label, seconds.get(c.label) ?? [], failures.get(c.label) ?? [])
    ),
  };
}

/**
 * The local columns of one workload; each warms up with its own command on the warm-up tree
 * (see {@linkcode makeWarmupTree}), into `ROOT/warmup/local-<column>`.
 */
function localColumns(w: Workload, tools: Tool[], dst: string, root: string): Column[] {
  const columns: Column[] = [];
  const src = `${root}/${WARMUP_SOURCE}`;
  for (const tool of tools) {
    const warmed = `${root}/${WARMUP_DIR}/local-${labelSlug(tool.label)}`;
    if (w.kind === "copy") {
      columns.push({
        label: tool.label,
        invocation: tool.copy(w.source, dst),
        dst,
        warm: [w.source],
        warmup: tool.copy(src, warmed),
      });
    } else if (tool.mirror !== undefined && w.base !== undefined) {
      columns.push({
        label: tool.label,
        invocation: tool.mirror(w.source, dst),
        dst,
        base: w.base,
        warm: [w.source, dst],
        warmup: tool.mirror(src, warmed),
      });
    }
  }
  return columns;
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return new TextDecoder().decode(out.stdout).split("\n")[0]?.trim() ?? "";
  } catch {
    return "not installed";
  }
}

async function environment(): Promise<Record<string, string>> {
  return {
    deno: Deno.version.deno,
    kernel: Deno.osRelease(),
    cpus: String(navigator.hardwareConcurrency),
    cp: await firstLine("cp", ["--version"]),
    tar: await firstLine("tar", ["--version"]),
    rsync: await firstLine("rsync", ["--version"]),
  };
}

/**
 * Runs the bench and returns the process exit code (0 ok, 1 a tool failed, 2 bad usage).
 * Requires `--allow-read --allow-write --allow-run --allow-env --allow-sys`.
 * @param argv Command-line arguments.
 * @returns The exit code.
 */
export async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(argv);
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    console.error(HELP);
    return 2;
  }
  if (opts.help) {
    console.log(HELP);
    return 0;
  }
  const started = new Date();
  const notes: string[] = [];
  const note = (text: string): void => {
    notes.push(text);
    console.log(`note: ${text}`);
  };
  console.log(`blit bench: preset ${opts.preset}, ${opts.runs} runs, dir ${opts.dir}`);

  const loadBefore = Deno.loadavg()[0] ?? 0;
  const busy = (load: number): boolean => load > navigator.hardwareConcurrency / 2;
  if (busy(loadBefore)) {
    note(
      `load average ${loadBefore.toFixed(2)} at start on ${navigator.hardwareConcurrency} ` +
        "CPUs: other processes compete for CPU and disk; compare ratios, not absolute times",
    );
  }
  const drop = await canDropCaches();
  if (!drop) {
    note("page cache not dropped: /proc/sys/vm/drop_caches is not writable (needs root)");
  }
  if (await freePageReporting()) note(FREE_PAGE_REPORTING_NOTE);
  const resolved = await resolveTools(opts.tools);
  for (const text of resolved.notes) note(text);
  const noMirror = resolved.tools.filter((t) => t.mirror === undefined).map((t) => t.label);
  if (noMirror.length > 0 && opts.only.some((id) => id === "d" || id === "e")) {
    note(`${noMirror.join(", ")}: no mirror mode, not timed on (d) and (e)`);
  }

  const remoteIds: WorkloadId[] = opts.remote ? [...opts.only] : [];
  const needed = WORKLOAD_IDS.filter((id) => opts.only.includes(id) || remoteIds.includes(id));
  const workloads = await prepareWorkloads(opts.dir, opts.preset, needed, {
    log: (m) => console.log(`  ${m}`),
  });
  const root = `${opts.dir}/${opts.preset}`;
  const dst = `${root}/dst`;
  await makeWarmupTree(root);
  const ctx: Context = { runs: opts.runs, drop };
  const results: WorkloadResult[] = [];
  const extras: Array<[string, number | null, string]> = [];
  console.log("workloads:");
  for (const w of workloads) console.log(`  (${w.id}) ${w.title}`);

  const wallStart = performance.now();
  for (const w of workloads) {
    if (!opts.only.includes(w.id) || (opts.remote && opts.remoteOnly)) continue;
    const columns = localColumns(w, resolved.tools, dst, root);
    if (columns.length === 0) {
      note(`(${w.id}): no selected tool can run this workload`);
      continue;
    }
    results.push(await timeWorkload(w.id, "local", w.title, columns, w.expected, ctx));
  }

  if (opts.remote) {
    const remoteTools: RemoteTool[] = [];
    let daemon: RsyncDaemon | undefined;
    const rsync = opts.tools.includes("rsync") ? await findInPath("rsync") : undefined;
    if (rsync === undefined) {
      note("rsync daemon: skipped (rsync not selected or not on PATH)");
    } else {
      daemon = await startRsyncDaemon(root, { module: "bench" });
      console.log(`rsync daemon: pid ${daemon.pid}, port ${daemon.port}, module bench = ${root}`);
      remoteTools.push(...rsyncDaemonTools(rsync, daemon.port, daemon.module));
    }
    // blit: a real blitd exporting the same root as module "bench", unless --blit-daemon names
    // one already running.
    const blitds: BlitDaemon[] = [];
    let firstBlit: string | undefined;
    if (resolved.tools.some((t) => t.name === "blit")) {
      if (opts.blitDaemon !== undefined) {
        remoteTools.push(...blitDaemonTools(opts.blitDaemon, "bench"));
        firstBlit = opts.blitDaemon;
      } else {
        for (const tls of opts.tls === "both" ? [true, false] : [opts.tls === "on"]) {
          const blitd = await startBlitDaemon(root, "bench", { tls });
          blitds.push(blitd);
          console.log(
            `blit daemon (tls ${tls ? "on" : "off"}): pid ${blitd.pid}, ${blitd.address}, ` +
              `module bench = ${root}`,
          );
          remoteTools.push(...blitDaemonTools(blitd.address, "bench", { tls }));
          firstBlit ??= tls ? blitd.address : undefined;
        }
      }
    }
    const stopAll = () => Promise.allSettled([daemon?.stop(), ...blitds.map((d) => d.stop())]);
    const stopOnSignal = (): void => {
      stopAll().finally(() => Deno.exit(130));
    };
    Deno.addSignalListener("SIGINT", stopOnSignal);
    try {
      for (const w of workloads) {
        if (!remoteIds.includes(w.id) || remoteTools.length === 0) continue;
        const columns = remoteColumns(w, remoteTools, root);
        results.push(await timeWorkload(w.id, "remote", w.title, columns, w.expected, ctx));
      }
      const trees: ClientTrees = {
        clients: 16,
        files: opts.preset === "quick" ? 500 : 2_000,
        fileBytes: 4096,
        dirs: 20,
      };
      if (opts.extras) {
        extras.push(
          ...await timeRemoteExtras(root, trees, opts.runs, {
            ...(rsync === undefined || daemon === undefined
              ? {}
              : { rsync: { rsync, port: daemon.port } }),
            ...(firstBlit === undefined ? {} : { blit: firstBlit }),
            ...(blitds[0] === undefined ? {} : { blitPid: blitds[0].pid }),
          }),
        );
      }
    } finally {
      Deno.removeSignalListener("SIGINT", stopOnSignal);
      await stopAll();
      await removeTree(`${root}/rdst`);
    }
  }
  await removeTree(dst);
  await removeTree(`${root}/${WARMUP_DIR}`);
  const wallSeconds = (performance.now() - wallStart) / 1000;
  const loadAfter = Deno.loadavg()[0] ?? 0;
  if (busy(loadAfter) && !busy(loadBefore)) {
    note(`load average rose to ${loadAfter.toFixed(2)} during the run: numbers may be noisy`);
  }

  const local = results.filter((r) => r.section === "local");
  const remote = results.filter((r) => r.section === "remote");
  const labels = resolved.tools.map((t) => t.label);
  const reference = labels.includes("blit") ? "blit" : "cp -a";
  const localRatios = labels.filter((l) => l !== reference).map((l) => [reference, l] as const);
  const remoteRatios = [
    ["blit push", "rsyncd push"],
    ["blit pull", "rsyncd pull"],
    ["blit push (tls off)", "rsyncd push"],
    ["blit pull (tls off)", "rsyncd pull"],
  ] as const;
  console.log(`\nmedians of ${opts.runs} runs (timing phase ${wallSeconds.toFixed(1)} s):`);
  for (const w of workloads) console.log(`  (${w.id}) ${w.title}`);
  if (local.length > 0) {
    console.log("\nlocal:");
    console.log(renderTable(local, localRatios));
  }
  if (remote.length > 0) {
    // Each table shows rsyncd and one of the blit daemons (TLS on, TLS off), when it ran.
    const tlsOff = (label: string): boolean => label.endsWith("(tls off)");
    const blitOn = (label: string): boolean => label.startsWith("blit") && !tlsOff(label);
    const on = onlyColumns(remote, (label) => !tlsOff(label));
    const off = onlyColumns(remote, (label) => !blitOn(label));
    if (on.some((row) => row.columns.some((c) => blitOn(c.label)))) {
      console.log("\nremote (loopback):");
      console.log(renderTable(on, remoteRatios.slice(0, 2)));
    }
    if (off.some((row) => row.columns.some((c) => tlsOff(c.label)))) {
      console.log("\nremote (loopback), blit with TLS off:");
      console.log(renderTable(off, remoteRatios.slice(2)));
    }
  }
  if (extras.length > 0) {
    console.log("\nremote, many clients and first byte (medians):");
    console.log(renderExtras(extras));
  }
  for (const text of notes) console.log(`note: ${text}`);

  if (opts.json !== undefined) {
    const report: BenchReport = {
      started: started.toISOString(),
      preset: opts.preset,
      runs: opts.runs,
      dir: opts.dir,
      droppedCaches: drop,
      environment: {
        ...await environment(),
        loadBefore: loadBefore.toFixed(2),
        loadAfter: loadAfter.toFixed(2),
      },
      notes,
      results,
    };
    await Deno.writeTextFile(opts.json, JSON.stringify(report, null, 2) + "\n");
    console.log(`wrote ${opts.json}`);
  }
  const failed = results.some((r) => r.columns.some((c) => c.failures.length > 0));
  const deltaFailed = opts.remote && opts.delta ? await runDeltaSection(opts) !== 0 : false;
  return failed || deltaFailed ? 1 : 0;
}

/**
 * Runs the delta and resume workloads (`bench/delta.ts`) in a private network namespace, as
 * `deno task bench:delta` does, with this run's preset, runs and directory; its output goes to
 * this process's.
 */
async function runDeltaSection(opts: BenchOptions): Promise<number> {
  console.log("\ndelta and resume (f, g, h), in a private network namespace:");
  const args = [
    ...(opts.preset === "quick" ? ["--quick"] : []),
    "--runs",
    String(opts.runs),
    "--dir",
    opts.dir,
    ...(opts.json === undefined ? [] : ["--json", opts.json.replace(/(\.json)?$/, ".delta.json")]),
  ];
  const script = `ip link set lo up && exec "$0" run --allow-read --allow-write --allow-run ` +
    `--allow-env --allow-sys --allow-net ${REPO_ROOT}/bench/delta.ts "$@"`;
  const child = new Deno.Command("unshare", {
    args: ["-n", "sh", "-c", script, Deno.execPath(), ...args],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const { code } = await child.status;
  if (code !== 0) console.log(`note: the delta section exited with code ${code}`);
  return code;
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
