/**
 * The remote part of the bench (`--remote`): push and pull columns for every workload, many
 * clients pushing at once, and how soon the first byte of a push lands.
 *
 * @module
 */

import { blitInvocation, type Invocation, type RemoteTool } from "./tools.ts";
import type { Workload } from "./workloads.ts";
import { Prng } from "./prng.ts";
import { diffManifests, listTree } from "./tree.ts";
import { moveToTrash, purgeTrash, removeTree } from "./system.ts";
import { formatSeconds, median } from "./report.ts";

/** One column to time on one workload, local or remote (see bench/run.ts). */
export interface Column {
  /** Column header. */
  label: string;
  /** Command to time. */
  invocation: Invocation;
  /** Directory that must match the workload afterwards. */
  dst: string;
  /** Tree cloned into `dst` before the run (mirrors), if any. */
  base?: string;
  /** Trees to read right before the run. */
  warm: string[];
  /**
   * Loads the tool's program once after the cache drop: the same command on the tiny tree of
   * {@linkcode makeWarmupTree}, so that whatever the timed run loads (for blit, Deno's runtime
   * and the TypeScript modules and caches of that route; for rsync, its binary) is in memory as
   * it is for someone who uses the tool regularly.
   */
  warmup: Invocation;
  /** A path that must not appear (a remote endpoint misread as a local path). */
  misparsePath?: string;
}

/** The warm-up tree's directory under the preset directory (see {@linkcode makeWarmupTree}). */
export const WARMUP_DIR = "warmup";

/**
 * The warm-up tree's source, relative to the preset directory (which the daemons export as their
 * module, so it is also its path in the module).
 */
export const WARMUP_SOURCE = `${WARMUP_DIR}/src`;

/**
 * Makes the warm-up tree afresh (the copies of an earlier bench removed), `ROOT/warmup/src` (one
 * 4 KiB file), which every column's warm-up copies or mirrors before its timed run; its copies go
 * to `ROOT/warmup/<kind>-<column>`.
 * @param root The preset directory.
 * @returns The tree's path.
 */
export async function makeWarmupTree(root: string): Promise<string> {
  await removeTree(`${root}/${WARMUP_DIR}`);
  const src = `${root}/${WARMUP_SOURCE}`;
  await Deno.mkdir(src, { recursive: true });
  await Deno.writeFile(`${src}/a.bin`, new Uint8Array(4096).fill(97));
  return src;
}

/**
 * A column's name in a path: `blit push (tls off)` → `blit-push-tls-off`.
 * @param label The column's header.
 * @returns Lowercase letters, digits and dashes.
 */
export function labelSlug(label: string): string {
  return label.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

/**
 * The push and pull columns of one workload: a copy into a fresh destination, or (mirror
 * workloads) a mirror onto a clone of the workload's base. Pushes land in `ROOT/rdst` (inside
 * the module), pulls in `ROOT/dst`.
 * @param w The workload.
 * @param tools The remote tools.
 * @param root The preset directory, which the daemons export as their module.
 * @returns The columns.
 */
export function remoteColumns(w: Workload, tools: RemoteTool[], root: string): Column[] {
  const srcName = w.source.slice(root.length + 1);
  const mirror = w.kind === "mirror";
  // A mirror reads its destination too: the clone made for the run, as the local columns warm.
  const warm = (dst: string): string[] => mirror ? [w.source, dst] : [w.source];
  return tools.map((tool): Column => {
    const guard = tool.misparsePath === undefined ? {} : { misparsePath: tool.misparsePath };
    const base = mirror && w.base !== undefined ? { base: w.base } : {};
    const build = mirror ? tool.mirror : tool.invocation;
    const slug = labelSlug(tool.label);
    if (tool.direction === "push") {
      return {
        label: tool.label,
        invocation: build(w.source, "rdst"),
        dst: `${root}/rdst`,
        warm: warm(`${root}/rdst`),
        warmup: build(`${root}/${WARMUP_SOURCE}`, `${WARMUP_DIR}/push-${slug}`),
        ...base,
        ...guard,
      };
    }
    return {
      label: tool.label,
      invocation: build(`${root}/dst`, srcName),
      dst: `${root}/dst`,
      warm: warm(`${root}/dst`),
      warmup: build(`${root}/${WARMUP_DIR}/pull-${slug}`, WARMUP_SOURCE),
      ...base,
      ...guard,
    };
  });
}

/** Sizes of the many-clients case. */
export interface ClientTrees {
  /** Number of clients (and trees). */
  clients: number;
  /** Files per tree. */
  files: number;
  /** Bytes per file. */
  fileBytes: number;
  /** Directories per tree. */
  dirs: number;
}

/**
 * Makes (or reuses) `clients` different trees under `dir/NAME/tNN`, each `files` files of
 * `fileBytes` bytes in `dirs` directories (the same paths and sizes in every tree; the bytes
 * differ).
 * @param dir The preset directory.
 * @param trees The sizes.
 * @param name The folder of the trees under `dir`.
 * @returns The tree paths.
 */
export async function prepareClientTrees(
  dir: string,
  trees: ClientTrees,
  name = "clients",
): Promise<string[]> {
  const root = `${dir}/${name}`;
  const stamp = `${root}.stamp.json`;
  const want = JSON.stringify(trees);
  const paths = Array.from(
    { length: trees.clients },
    (_, k) => `${root}/t${String(k).padStart(2, "0")}`,
  );
  const have = await Deno.readTextFile(stamp).catch(() => "");
  if (have !== want) {
    await removeTree(root);
    for (const [k, path] of paths.entries()) {
      const prng = new Prng(0xc11e + k);
      for (let d = 0; d < trees.dirs; d++) await Deno.mkdir(`${path}/d${d}`, { recursive: true });
      const data = new Uint8Array(trees.fileBytes);
      for (let f = 0; f < trees.files; f++) {
        for (let i = 0; i < data.length; i += 4) {
          new DataView(data.buffer).setUint32(i, prng.nextU32());
        }
        await Deno.writeFile(`${path}/d${f % trees.dirs}/f${f}.dat`, data);
      }
    }
    await Deno.writeTextFile(stamp, want);
  }
  return paths;
}

/** One tool of the many-clients case: how one client pushes tree `k`. */
export interface ClientsColumn {
  /** Column header. */
  label: string;
  /** The push of a local tree into the module path `remotePath`. */
  push(local: string, remotePath: string): Invocation;
}

/** The result of one many-clients run. */
export interface ClientsRun {
  /** Wall time from the first spawn to the last exit. */
  seconds: number;
  /** `null` when every client succeeded and every tree arrived byte-identical. */
  failure: string | null;
}

/**
 * Pushes every tree at once (one client process each) into `root/rdst-clients/tNN` and checks
 * that every tree arrived byte-identical.
 * @param column The tool.
 * @param trees The local trees.
 * @param root The preset directory (the module's root).
 * @returns Wall time and the first problem, if any.
 */
export async function timeClients(
  column: ClientsColumn,
  trees: readonly string[],
  root: string,
): Promise<ClientsRun> {
  const target = `${root}/rdst-clients`;
  // Earlier runs' trees are moved aside, not removed: creations right after removing 32,000
  // files are slower for about a minute here, which would time the disk (see moveToTrash).
  await moveToTrash(target);
  await Deno.mkdir(target, { recursive: true });
  const started = performance.now();
  const runs = trees.map(async (tree, k) => {
    const name = `t${String(k).padStart(2, "0")}`;
    const inv = column.push(tree, `rdst-clients/${name}`);
    const out = await new Deno.Command(inv.cmd, {
      args: inv.args,
      ...(inv.cwd === undefined ? {} : { cwd: inv.cwd }),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    return out.code === 0
      ? null
      : `client ${k}: exit code ${out.code}: ${
        new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0]
      }`;
  });
  const problems = (await Promise.all(runs)).filter((p) => p !== null);
  const seconds = (performance.now() - started) / 1000;
  if (problems.length > 0) return { seconds, failure: problems[0] ?? "a client failed" };
  for (const [k, tree] of trees.entries()) {
    const name = `t${String(k).padStart(2, "0")}`;
    const problem = await sameTree(tree, `${target}/${name}`);
    if (problem !== null) return { seconds, failure: `tree ${name}: ${problem}` };
  }
  await moveToTrash(target);
  return { seconds, failure: null };
}

/** Compares two trees: the same paths, sizes and bytes. */
async function sameTree(a: string, b: string): Promise<string | null> {
  const [left, right] = [await listTree(a), await listTree(b)];
  const shape = diffManifests(left, right);
  if (shape !== undefined) return shape;
  for (const path of left.keys()) {
    const [x, y] = [await Deno.readFile(`${a}/${path}`), await Deno.readFile(`${b}/${path}`)];
    if (x.length !== y.length || x.some((byte, i) => byte !== y[i])) {
      return `"${path}" differs`;
    }
  }
  return null;
}

/**
 * How soon the first payload byte of a push lands: spawns `invocation` (a push of one small file
 * into the empty module directory `landing`) and watches `landing` for its first event (the
 * temporary or the file appearing).
 * @param invocation The push.
 * @param landing The module directory it writes into (created fresh).
 * @returns Milliseconds from the spawn to the first event, or `null` when none came.
 */
export async function timeFirstByte(
  invocation: Invocation,
  landing: string,
): Promise<number | null> {
  await removeTree(landing);
  await Deno.mkdir(landing, { recursive: true });
  const watcher = Deno.watchFs(landing, { recursive: true });
  let landed: number | null = null;
  const watching = (async () => {
    // The first event of any kind: Deno reports some creates here as "remove" or "rename"
    // (the temporary is renamed within the same millisecond), and the directory starts empty.
    for await (const _event of watcher) {
      landed = performance.now();
      break;
    }
  })();
  const started = performance.now();
  const out = await new Deno.Command(invocation.cmd, {
    args: invocation.args,
    ...(invocation.cwd === undefined ? {} : { cwd: invocation.cwd }),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  await new Promise((resolve) => setTimeout(resolve, 50));
  watcher.close();
  await watching;
  await removeTree(landing);
  if (out.code !== 0 || landed === null) return null;
  return landed - started;
}

/**
 * Renders the many-clients and first-byte results.
 * @param rows Label, median seconds (or `null`) and a note.
 * @returns The table text.
 */
export function renderExtras(rows: ReadonlyArray<[string, number | null, string]>): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, seconds, note]) =>
    `${label.padEnd(width)}  ${seconds === null ? "FAIL" : formatSeconds(seconds)}  ${note}`
  ).join("\n");
}

/**
 * The peak resident set (`VmHWM`, KiB) of the largest process in the tree under `pid` (the
 * daemon's server, under its launcher), or `null` when it cannot be read. Read through `ps` and
 * `cat`: Deno opens `/proc` only with `--allow-all`.
 * @param pid The launcher's process id.
 * @returns KiB, or `null`.
 */
export async function peakRssKiB(pid: number): Promise<number | null> {
  let peak: number | null = null;
  for (const member of await processTree(pid)) {
    const status = await text("cat", [`/proc/${member}/status`]).catch(() => "");
    const kib = Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? NaN);
    if (Number.isFinite(kib)) peak = Math.max(peak ?? 0, kib);
  }
  return peak;
}

/**
 * Resets the peak resident set of every process in the tree under `pid` (`5` into
 * `/proc/PID/clear_refs`), so that {@linkcode peakRssKiB} then reports the peak of what follows.
 * @param pid The launcher's process id.
 * @returns Whether every reset worked (it needs to own the processes).
 */
export async function resetPeakRss(pid: number): Promise<boolean> {
  let ok = true;
  for (const member of await processTree(pid)) {
    const out = await new Deno.Command("sh", {
      args: ["-c", `echo 5 > /proc/${member}/clear_refs`],
      stdout: "null",
      stderr: "null",
    }).output();
    ok &&= out.code === 0;
  }
  return ok;
}

async function text(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout);
}

/** `pid` and its descendants. */
async function processTree(pid: number): Promise<Set<number>> {
  const parents = new Map<number, number>();
  for (const line of (await text("ps", ["-eo", "pid=,ppid="])).split("\n")) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (Number.isInteger(child) && Number.isInteger(parent)) parents.set(child!, parent!);
  }
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, parent] of parents) {
      if (tree.has(parent) && !tree.has(child)) {
        tree.add(child);
        grew = true;
      }
    }
  }
  return tree;
}

/**
 * How long the many-clients runs wait after the workloads' last removal: on this project's ext4,
 * files created within about a minute of removing a large tree are much slower.
 */
export const REMOVAL_QUIET_MS = 60_000;

/** What {@linkcode timeRemoteExtras} runs against. */
export interface ExtrasTargets {
  /** The rsync client and the rsync daemon's port, when rsync is timed. */
  rsync?: { rsync: string; port: number };
  /** The address of the blit daemon with TLS on, when blit is timed. */
  blit?: string;
  /** The blit daemon's launcher, to read its server's peak memory. */
  blitPid?: number;
}

/**
 * The many-clients case (16 clients pushing 16 different trees at once, interleaved run by run,
 * every tree checked), the same number of clients pushing one file each (what the sessions alone
 * cost), and the first byte of a push (median of `runs`).
 * @param root The preset directory (the module's root).
 * @param trees The many-clients sizes.
 * @param runs Runs per tool.
 * @param targets The daemons.
 * @returns Table rows: label, median seconds (`null`: failed) and a note.
 */
export async function timeRemoteExtras(
  root: string,
  trees: ClientTrees,
  runs: number,
  targets: ExtrasTargets,
): Promise<Array<[string, number | null, string]>> {
  const columns: ClientsColumn[] = [];
  const { rsync, blit } = targets;
  if (rsync !== undefined) {
    columns.push({
      label: "rsyncd",
      push: (local, path) => ({
        cmd: rsync.rsync,
        args: ["-a", `${local}/`, `rsync://127.0.0.1:${rsync.port}/bench/${path}/`],
      }),
    });
  }
  if (blit !== undefined) {
    columns.push({
      label: "blit",
      push: (local, path) => blitInvocation(["copy", `${local}/`, `${blit}:/bench/${path}/`]),
    });
  }
  // The workloads before purged their trash: files created within about a minute of a large
  // removal are slower here, so the first runs would time the disk (see moveToTrash).
  console.log(`  waiting ${REMOVAL_QUIET_MS / 1000} s after the workloads' last removal`);
  await new Promise((resolve) => setTimeout(resolve, REMOVAL_QUIET_MS));
  // The peak of the many-clients runs, not of the workloads before them.
  const reset = targets.blitPid !== undefined && await resetPeakRss(targets.blitPid);
  const paths = await prepareClientTrees(root, trees);
  const many = await timeClientColumns(columns, paths, root, runs, "clients");
  // The same number of sessions with one file each: what the sessions themselves cost (start-up,
  // connection, handshake), the floor under the row above.
  const one = { clients: trees.clients, files: 1, fileBytes: trees.fileBytes, dirs: 1 };
  const onePaths = await prepareClientTrees(root, one, "clients-one");
  const sessions = await timeClientColumns(columns, onePaths, root, runs, "sessions");
  const rows: Array<[string, number | null, string]> = [];
  const title = `${trees.clients} clients × ${trees.files} × ${trees.fileBytes / 1024} KiB`;
  for (const column of columns) {
    const value = many.get(column.label) ?? null;
    let note = many.failures.get(column.label) ?? "";
    if (column.label === "blit" && value !== null) {
      const rsyncd = many.get("rsyncd") ?? null;
      const ratio = rsyncd === null ? "" : `${(value / rsyncd).toFixed(2)}x of rsyncd; `;
      const peak = targets.blitPid === undefined ? null : await peakRssKiB(targets.blitPid);
      const since = reset ? "" : " (since start: could not reset)";
      note = `${ratio}daemon peak RSS ${
        peak === null ? "?" : `${Math.round(peak / 1024)} MiB${since}`
      }`;
    }
    rows.push([`${title}: ${column.label}`, value, note]);
  }
  for (const column of columns) {
    rows.push([
      `${trees.clients} clients × 1 file (the sessions alone): ${column.label}`,
      sessions.get(column.label) ?? null,
      sessions.failures.get(column.label) ?? "",
    ]);
  }
  rows.push(...await firstByteRows(root, runs, targets));
  await purgeTrash([`${root}/rdst-clients`]);
  return rows;
}

/** Medians per column of interleaved many-clients runs, and the first failure of each. */
interface ColumnTimes {
  get(label: string): number | null;
  failures: Map<string, string>;
}

/** Times every column `runs` times on the same trees, interleaved, each run checked. */
async function timeClientColumns(
  columns: readonly ClientsColumn[],
  paths: readonly string[],
  root: string,
  runs: number,
  tag: string,
): Promise<ColumnTimes> {
  const seconds = new Map<string, number[]>(columns.map((c) => [c.label, []]));
  const failures = new Map<string, string>();
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? columns : [...columns].reverse();
    const parts: string[] = [];
    for (const column of order) {
      if (failures.has(column.label)) continue;
      const run = await timeClients(column, paths, root);
      if (run.failure !== null) {
        failures.set(column.label, run.failure);
        parts.push(`${column.label} FAILED (${run.failure})`);
      } else {
        seconds.get(column.label)?.push(run.seconds);
        parts.push(`${column.label} ${formatSeconds(run.seconds)}`);
      }
    }
    console.log(`  (${tag}) run ${r + 1}/${runs}: ${parts.join(" | ")}`);
  }
  return {
    get: (label) => failures.has(label) ? null : median(seconds.get(label) ?? []),
    failures,
  };
}

/** The first byte of a push of one 4 KiB file, blit and rsyncd, median of `runs`. */
async function firstByteRows(
  root: string,
  runs: number,
  targets: ExtrasTargets,
): Promise<Array<[string, number | null, string]>> {
  const source = `${root}/first-byte-src`;
  await Deno.mkdir(source, { recursive: true });
  await Deno.writeFile(`${source}/one.dat`, new Uint8Array(4096).fill(7));
  const pushes: Array<[string, Invocation]> = [];
  const { rsync, blit } = targets;
  if (blit !== undefined) {
    pushes.push(["blit", blitInvocation(["copy", `${source}/`, `${blit}:/bench/first-byte/`])]);
  }
  if (rsync !== undefined) {
    pushes.push(["rsyncd", {
      cmd: rsync.rsync,
      args: ["-a", `${source}/`, `rsync://127.0.0.1:${rsync.port}/bench/first-byte/`],
    }]);
  }
  const rows: Array<[string, number | null, string]> = [];
  for (const [label, invocation] of pushes) {
    const times: number[] = [];
    for (let r = 0; r < Math.max(5, runs); r++) {
      const ms = await timeFirstByte(invocation, `${root}/first-byte`);
      if (ms !== null) times.push(ms / 1000);
    }
    const value = median(times);
    rows.push([`first byte of a push (spawn → file created): ${label}`, value, ""]);
  }
  await removeTree(source);
  return rows;
}
