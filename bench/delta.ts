/**
 * The delta bench (`deno task bench:delta`): how many bytes blit's delta transfer puts on the
 * wire, and how long it takes, against `rsync --daemon` on loopback, push and pull, interleaved
 * run by run.
 *
 * - (f) one big file (1 GiB; `--quick`: 128 MiB) with 16 × 64 KiB overwritten and 4 × 4 KiB
 *   inserted at seeded offsets, copied onto its old version (`blit copy`, `rsync -a`).
 * - (g) resume after an interruption: (f)'s new file copied into an empty directory (`blit copy`,
 *   `rsync -a --partial`), the client killed once the destination's growing file holds half of
 *   it, then the timed rerun, which should send only the missing part. blit's client gets
 *   SIGKILL; so does rsync's on a push, while on a pull rsync's client process group gets SIGTERM
 *   (there the client is rsync's receiver, which keeps its partial file only when it can catch
 *   the signal; after a SIGKILL it leaves its `.big.bin.XXXXXX` temporary, which a rerun ignores).
 * - (h) the mixed tree (c) with 1% of its files modified in place (a 64 KiB run; a smaller file
 *   rewritten whole), 1% added and 1% deleted, mirrored onto (c) (`blit mirror --yes`,
 *   `rsync -a --delete`).
 *
 * The wire bytes come from the kernel: the transmitted bytes of `lo` in `/proc/net/dev` around
 * each timed run (TCP/IP headers included). They mean something only in a private network
 * namespace, which is why the task runs the bench under `unshare -n`. blit's own count
 * (`bytes_on_wire` of its `--json` summary) is reported next to it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type BlitDaemon, startBlitDaemon } from "./blitd.ts";
import { Prng } from "./prng.ts";
import { formatSeconds, median } from "./report.ts";
import { type RsyncDaemon, startRsyncDaemon } from "./rsyncd.ts";
import { makeWarmupTree, WARMUP_DIR, WARMUP_SOURCE } from "./remote.ts";
import { isTemporaryName, PARTIAL_PREFIX } from "../core/tree.ts";
import {
  canDropCaches,
  cloneTree,
  exists,
  findInPath,
  FREE_PAGE_REPORTING_NOTE,
  freePageReporting,
  removeTree,
  runQuiet,
  syncAndDrop,
  warmTree,
} from "./system.ts";
import { blitInvocation, type Invocation, REPO_ROOT } from "./tools.ts";
import { diffManifests, listTree, type Manifest } from "./tree.ts";
import {
  ContentSource,
  deriveSeed,
  type FileSpec,
  manifestOf,
  planMixed,
  prepareWorkloads,
  type PresetName,
  PRESETS,
  type WorkloadParams,
} from "./workloads.ts";

const KIB = 1024;
const MIB = 1024 * KIB;

/** Bumped whenever the generated (f) or (h) data changes, so old data is regenerated. */
export const DELTA_GENERATOR_VERSION = 2;

/** Workloads of this bench. */
export type DeltaId = "f" | "g" | "h";

/** All workloads, in report order. */
export const DELTA_IDS: readonly DeltaId[] = ["f", "g", "h"];

/** Name of the big file of (f) and (g). */
const BIG_NAME = "big.bin";

/** (f): how many 64 KiB runs are overwritten. */
export const OVERWRITES = 16;
/** (f): bytes of each overwritten run; (h): bytes of the run overwritten in a modified file. */
export const OVERWRITE_BYTES = 64 * KIB;
/** (f): how many runs are inserted. */
export const INSERTS = 4;
/** (f): bytes of each inserted run. */
export const INSERT_BYTES = 4 * KIB;
/** (h): percentage of the files modified, and again added, and again deleted. */
export const MUTATION_PERCENT = 1;

/** Targets: blit's wire bytes on (f) at most this share of the file. */
export const TARGET_F_WIRE_SHARE = 0.02;
/** Targets: blit's time on (f) at most this multiple of rsyncd's. */
export const TARGET_F_TIME_RATIO = 1.0;
/** Targets: blit's wire bytes on (h) at most this multiple of rsyncd's. */
export const TARGET_H_WIRE_RATIO = 1.3;
/** Targets: blit's wire bytes on the (g) rerun at most this share of the file. */
export const TARGET_G_WIRE_SHARE = 0.55;

/** (g): the client is killed once the destination's growing file holds this share of the file. */
export const INTERRUPT_SHARE = 0.5;
/** (g): milliseconds between two looks at the growing file. */
const POLL_MS = 5;
/** (g): the destination has settled once its listing stays the same this many milliseconds. */
const SETTLE_MS = 300;
/** (g): most milliseconds to wait for the destination to settle after the client is gone. */
const SETTLE_LIMIT_MS = 10_000;

const HELP = `blit delta bench: bytes on the wire and time of delta transfers, blit against rsyncd

Usage: deno task bench:delta [options]
       (runs the bench in a private network namespace, so that the loopback counters count
       only its own traffic)

Options:
  --quick        a 128 MiB file, the quick mixed tree, 3 runs
  --runs N       timed runs per column and workload (default 5, quick 3)
  --only f,g,h   workloads: f one big file edited in place, g that file copied, interrupted at
                 half and resumed (the rerun is timed), h a mutated mirror of the mixed tree
  --dir PATH     work directory for generated data (default /tmp/blit-bench)
  --json PATH    also write the results as JSON
  -h, --help     this help
`;

/** Parsed command line of the delta bench. */
export interface DeltaOptions {
  /** Workload size preset. */
  preset: PresetName;
  /** Timed runs per column and workload. */
  runs: number;
  /** Workloads to run, in report order. */
  only: DeltaId[];
  /** Work directory. */
  dir: string;
  /** Where to write the JSON results, if anywhere. */
  json?: string;
  /** Whether help was asked for. */
  help: boolean;
}

/**
 * Parses the delta bench's command line.
 * @param argv Arguments.
 * @throws {TypeError} On an unknown option or a bad value.
 * @returns The options.
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { parseDeltaArgs } from "./delta.ts";
 * assertEquals(parseDeltaArgs(["--quick", "--only", "h"]).only, ["h"]);
 * ```
 */
export function parseDeltaArgs(argv: string[]): DeltaOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean", default: false },
      runs: { type: "string" },
      only: { type: "string" },
      dir: { type: "string", default: "/tmp/blit-bench" },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const preset: PresetName = values.quick ? "quick" : "full";
  let runs = preset === "quick" ? 3 : 5;
  if (values.runs !== undefined) {
    runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1) {
      throw new TypeError(`Cannot use --runs "${values.runs}": expected a positive integer`);
    }
  }
  let only = [...DELTA_IDS];
  if (values.only !== undefined) {
    const items = values.only.split(",").map((s) => s.trim()).filter((s) => s !== "");
    for (const item of items) {
      if (!(DELTA_IDS as readonly string[]).includes(item)) {
        throw new TypeError(
          `Cannot use workload "${item}": expected one of ${DELTA_IDS.join(",")}`,
        );
      }
    }
    if (items.length === 0) throw new TypeError("Cannot use an empty workload list");
    only = DELTA_IDS.filter((id) => items.includes(id));
  }
  return {
    preset,
    runs,
    only,
    dir: values.dir.replace(/\/+$/, "") || "/",
    ...(values.json === undefined ? {} : { json: values.json }),
    help: values.help,
  };
}

// ---------------------------------------------------------------------------------------------
// (f): one big file and its edited version

/** One planned edit of the big file: a run of seeded bytes at an offset of the old file. */
export interface Edit {
  /** Offset in the old file (an insert goes before the old byte at this offset). */
  offset: number;
  /** Bytes written or inserted. */
  length: number;
  /** Seed of the bytes. */
  seed: number;
}

/** The edits of workload (f), each list sorted by offset. */
export interface BigEdits {
  /** Runs overwritten in place. */
  overwrites: Edit[];
  /** Runs inserted. */
  inserts: Edit[];
}

/** An edit with its bytes. */
export interface MaterialEdit {
  /** Offset in the old file. */
  offset: number;
  /** The bytes written or inserted. */
  bytes: Uint8Array;
}

/** {@linkcode BigEdits} with their bytes, as {@linkcode editedPieces} takes them. */
export interface MaterialEdits {
  /** Runs overwritten in place (a later one wins where two overlap). */
  overwrites: MaterialEdit[];
  /** Runs inserted, sorted by offset. */
  inserts: MaterialEdit[];
}

/**
 * Plans the (f) edits of a file of `size` bytes: {@linkcode OVERWRITES} runs of
 * {@linkcode OVERWRITE_BYTES} overwritten and {@linkcode INSERTS} runs of
 * {@linkcode INSERT_BYTES} inserted, at seeded offsets.
 * @param size Size of the old file, at least {@linkcode OVERWRITE_BYTES}.
 * @param seed Seed of the offsets and the bytes.
 * @returns The edits, sorted by offset.
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { planBigEdits } from "./delta.ts";
 * assertEquals(planBigEdits(1 << 20, 7).inserts.length, 4);
 * ```
 */
export function planBigEdits(size: number, seed: number): BigEdits {
  const rng = new Prng(seed);
  const overwrites: Edit[] = [];
  for (let i = 0; i < OVERWRITES; i++) {
    const offset = rng.int(size - OVERWRITE_BYTES + 1);
    overwrites.push({ offset, length: OVERWRITE_BYTES, seed: rng.nextU32() });
  }
  const inserts: Edit[] = [];
  for (let i = 0; i < INSERTS; i++) {
    inserts.push({ offset: rng.int(size), length: INSERT_BYTES, seed: rng.nextU32() });
  }
  const byOffset = (x: Edit, y: Edit): number => x.offset - y.offset;
  return { overwrites: overwrites.sort(byOffset), inserts: inserts.sort(byOffset) };
}

/**
 * The bytes of an edit.
 * @param edit The edit.
 * @returns `edit.length` seeded bytes.
 */
export function editBytes(edit: Edit): Uint8Array {
  const bytes = new Uint8Array(edit.length);
  new Prng(edit.seed).fill(bytes);
  return bytes;
}

/**
 * Gives the edits their bytes.
 * @param edits Planned edits.
 * @returns The same edits with their bytes.
 */
export function materialise(edits: BigEdits): MaterialEdits {
  const withBytes = (e: Edit): MaterialEdit => ({ offset: e.offset, bytes: editBytes(e) });
  return { overwrites: edits.overwrites.map(withBytes), inserts: edits.inserts.map(withBytes) };
}

/**
 * The new file's bytes for one chunk of the old file: the chunk with the overwrites that fall in
 * it applied and the inserts at offsets inside it put in place. Concatenating the pieces of every
 * chunk, in order, gives the whole new file, so a huge file is written chunk by chunk.
 * @param chunk Bytes of the old file at `at` (not modified).
 * @param at Offset of `chunk` in the old file.
 * @param edits The edits with their bytes.
 * @returns The pieces to write, in order.
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { editedPieces } from "./delta.ts";
 * const pieces = editedPieces(new Uint8Array([1, 2, 3, 4]), 10, {
 *   overwrites: [{ offset: 11, bytes: new Uint8Array([9]) }],
 *   inserts: [{ offset: 13, bytes: new Uint8Array([7, 7]) }],
 * });
 * assertEquals(pieces, [new Uint8Array([1, 9, 3]), new Uint8Array([7, 7]), new Uint8Array([4])]);
 * ```
 */
export function editedPieces(chunk: Uint8Array, at: number, edits: MaterialEdits): Uint8Array[] {
  const out = chunk.slice();
  const end = at + chunk.byteLength;
  for (const w of edits.overwrites) {
    const from = Math.max(w.offset, at);
    const to = Math.min(w.offset + w.bytes.byteLength, end);
    if (from < to) out.set(w.bytes.subarray(from - w.offset, to - w.offset), from - at);
  }
  const pieces: Uint8Array[] = [];
  let cut = 0;
  for (const ins of edits.inserts) {
    if (ins.offset < at || ins.offset >= end) continue;
    pieces.push(out.subarray(cut, ins.offset - at), ins.bytes);
    cut = ins.offset - at;
  }
  pieces.push(out.subarray(cut));
  return pieces.filter((p) => p.byteLength > 0);
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) written += await file.write(bytes.subarray(written));
}

/** Fixed modification times of (f), so the data is the same on every machine. */
const F_OLD_MTIME = new Date(Date.UTC(2024, 0, 1, 12, 0, 0));
const F_NEW_MTIME = new Date(Date.UTC(2024, 0, 2, 12, 0, 0));

/**
 * Writes the old and the new big file in one pass, 1 MiB at a time.
 * @param oldPath Path of the old version.
 * @param newPath Path of the new version.
 * @param spec Size and content seed of the old version.
 * @param edits The edits.
 */
async function writeBigPair(
  oldPath: string,
  newPath: string,
  spec: FileSpec,
  edits: MaterialEdits,
): Promise<void> {
  {
    using oldFile = await Deno.open(oldPath, { write: true, create: true, truncate: true });
    using newFile = await Deno.open(newPath, { write: true, create: true, truncate: true });
    const buf = new Uint8Array(MIB);
    for (let offset = 0; offset < spec.size; offset += MIB) {
      const part = buf.subarray(0, Math.min(MIB, spec.size - offset));
      // Bytes that never repeat (the workloads' pool repeats 1 MiB pieces, and a delta search,
      // rsync's included, would find the missing parts of a file inside its other parts).
      new Prng((spec.seed ^ Math.imul(offset / MIB + 1, 0x85ebca6b)) >>> 0).fill(part);
      await writeAll(oldFile, part);
      for (const piece of editedPieces(part, offset, edits)) await writeAll(newFile, piece);
    }
  }
  await Deno.utime(oldPath, F_OLD_MTIME, F_OLD_MTIME);
  await Deno.utime(newPath, F_NEW_MTIME, F_NEW_MTIME);
}

// ---------------------------------------------------------------------------------------------
// (h): the mixed tree, mutated

/** One file of (c) modified in place: `length` seeded bytes written at `offset`. */
export interface TreeEdit {
  /** Path relative to the tree root. */
  path: string;
  /** Size of the file (unchanged). */
  size: number;
  /** Where the run starts (0 when the whole file is rewritten). */
  offset: number;
  /** Bytes of the run: {@linkcode OVERWRITE_BYTES}, or the whole file when it is smaller. */
  length: number;
  /** Seed of the bytes. */
  seed: number;
}

/** The (h) mutation of the mixed tree. */
export interface TreeMutation {
  /** Files modified in place, sorted by path. */
  modify: TreeEdit[];
  /** Files added, sorted by path. */
  add: FileSpec[];
  /** Files deleted, sorted. */
  remove: string[];
}

/**
 * Plans the (h) mutation: {@linkcode MUTATION_PERCENT}% of the files (at least one) modified in
 * place (a {@linkcode OVERWRITE_BYTES} run at a seeded offset, or the whole file when it is
 * smaller), as many others deleted, and as many added (sizes log-uniform like (c), in the
 * directories of (c)).
 * @param files The planned mixed tree ({@linkcode planMixed}).
 * @param p Parameters (the size range of added files).
 * @param seed Seed of the choices.
 * @returns What to modify, add and remove.
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { planTreeMutation } from "./delta.ts";
 * import { planMixed, PRESETS } from "./workloads.ts";
 * const p = PRESETS.quick;
 * assertEquals(planTreeMutation(planMixed(p), p, 1).add.length, 3);
 * ```
 */
export function planTreeMutation(
  files: readonly FileSpec[],
  p: WorkloadParams,
  seed: number,
): TreeMutation {
  const rng = new Prng(seed);
  const count = Math.max(1, Math.round((files.length * MUTATION_PERCENT) / 100));
  const order = rng.permutation(files.length);
  const modify: TreeEdit[] = [];
  const remove: string[] = [];
  for (let k = 0; k < Math.min(2 * count, order.length); k++) {
    const file = files[order[k] ?? 0];
    if (file === undefined) continue;
    if (k < count) {
      const whole = file.size < OVERWRITE_BYTES;
      const offset = whole ? 0 : rng.int(file.size - OVERWRITE_BYTES + 1);
      const length = whole ? file.size : OVERWRITE_BYTES;
      modify.push({ path: file.path, size: file.size, offset, length, seed: rng.nextU32() });
    } else {
      remove.push(file.path);
    }
  }
  const dirs = [...new Set(files.map((f) => f.path.split("/").slice(0, -1).join("/")))].sort();
  const add: FileSpec[] = [];
  for (let i = 0; i < count; i++) {
    const dir = dirs[rng.int(dirs.length)] ?? "";
    const size = rng.logUniform(p.mixedMinBytes, p.mixedMaxBytes);
    const name = `added${String(i).padStart(4, "0")}.bin`;
    add.push({ path: dir === "" ? name : `${dir}/${name}`, size, seed: rng.nextU32() });
  }
  const byPath = (x: { path: string }, y: { path: string }): number =>
    x.path < y.path ? -1 : x.path > y.path ? 1 : 0;
  return { modify: modify.sort(byPath), add: add.sort(byPath), remove: remove.sort() };
}

/**
 * The listing of the mutated tree.
 * @param files The planned mixed tree.
 * @param mutation Its (h) mutation.
 * @returns Path → size, sorted by path.
 */
export function mutatedListing(files: readonly FileSpec[], mutation: TreeMutation): Manifest {
  const out = manifestOf([...files]);
  for (const path of mutation.remove) out.delete(path);
  for (const f of mutation.add) out.set(f.path, f.size);
  return new Map([...out].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)));
}

/** Applies the mutation to a clone of (c). */
async function mutateTree(
  tree: string,
  mutation: TreeMutation,
  content: ContentSource,
): Promise<void> {
  for (const path of mutation.remove) await Deno.remove(`${tree}/${path}`);
  for (const m of mutation.modify) {
    const path = `${tree}/${m.path}`;
    const before = await Deno.stat(path);
    {
      using file = await Deno.open(path, { write: true });
      await file.seek(m.offset, Deno.SeekMode.Start);
      await writeAll(file, editBytes({ offset: m.offset, length: m.length, seed: m.seed }));
    }
    // An hour after the old time: a same-size change must never look unchanged to a tool that
    // compares times in whole seconds, however soon after (c) this runs.
    const mtime = new Date((before.mtime?.getTime() ?? Date.now()) + 3_600_000);
    await Deno.utime(path, mtime, mtime);
  }
  for (const f of mutation.add) {
    const parent = f.path.split("/").slice(0, -1).join("/");
    if (parent !== "") await Deno.mkdir(`${tree}/${parent}`, { recursive: true });
    await content.write(`${tree}/${f.path}`, f);
  }
}

// ---------------------------------------------------------------------------------------------
// Generated data, reused while its stamp matches

interface Stamp {
  generator: number;
  workload: DeltaId;
  params: Record<string, number | string>;
}

async function stampMatches(path: string, stamp: Stamp): Promise<boolean> {
  try {
    return (await Deno.readTextFile(path)).trim() === JSON.stringify(stamp);
  } catch {
    return false;
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return undefined;
  }
}

/** One workload of this bench, ready to time. */
interface DeltaWorkload {
  id: DeltaId;
  title: string;
  /** `copy` (f), `resume` (g) or `mirror` (h). */
  kind: "copy" | "resume" | "mirror";
  /** The old version: what the destination holds before each run ((g): unused, it starts empty). */
  old: string;
  /** The new version, local path (inside the module root). */
  fresh: string;
  /** The new version as a path inside the module. */
  modulePath: string;
  /** Bytes of the new version. */
  bytes: number;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(2)} MB`;
  return `${(bytes / 1e3).toFixed(1)} kB`;
}

/** Generates (or reuses) `ROOT/f/old/big.bin` and `ROOT/f/new/big.bin`. */
async function prepareBig(root: string, p: WorkloadParams): Promise<DeltaWorkload> {
  const size = p.bigFileBytes;
  const seed = deriveSeed(p.seed, 0xf1);
  const edits = planBigEdits(size, deriveSeed(p.seed, 0xf2));
  const newSize = size + edits.inserts.reduce((n, e) => n + e.length, 0);
  const stamp: Stamp = {
    generator: DELTA_GENERATOR_VERSION,
    workload: "f",
    params: {
      seed: p.seed,
      size,
      overwrites: OVERWRITES,
      overwriteBytes: OVERWRITE_BYTES,
      inserts: INSERTS,
      insertBytes: INSERT_BYTES,
    },
  };
  const dir = `${root}/f`;
  const stampPath = `${root}/f.stamp.json`;
  const oldPath = `${dir}/old/${BIG_NAME}`;
  const newPath = `${dir}/new/${BIG_NAME}`;
  if (
    await stampMatches(stampPath, stamp) && await sizeOf(oldPath) === size &&
    await sizeOf(newPath) === newSize
  ) {
    console.log(`  reusing ${dir}`);
  } else {
    console.log(`  generating ${dir} ...`);
    const start = performance.now();
    await removeTree(stampPath);
    await removeTree(dir);
    await Deno.mkdir(`${dir}/old`, { recursive: true });
    await Deno.mkdir(`${dir}/new`, { recursive: true });
    await writeBigPair(oldPath, newPath, { path: BIG_NAME, size, seed }, materialise(edits));
    await Deno.writeTextFile(stampPath, JSON.stringify(stamp) + "\n");
    console.log(`  generated ${dir} in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  }
  return {
    id: "f",
    title: `one ${size / MIB} MiB file, ${OVERWRITES} x ${OVERWRITE_BYTES / KIB} KiB overwritten ` +
      `and ${INSERTS} x ${INSERT_BYTES / KIB} KiB inserted at seeded offsets, copied onto the ` +
      "old version",
    kind: "copy",
    old: `${dir}/old`,
    fresh: `${dir}/new`,
    modulePath: "f/new",
    bytes: newSize,
  };
}

/** Workload (g): (f)'s new file copied into an empty directory, interrupted, then rerun. */
function resumeWorkload(big: DeltaWorkload): DeltaWorkload {
  return {
    ...big,
    id: "g",
    title: `one ${formatBytes(big.bytes)} file (the new version of (f)) copied into an empty ` +
      `directory, the client killed at ${INTERRUPT_SHARE * 100}%, then rerun (the rerun is timed)`,
    kind: "resume",
  };
}

/** The token of (c)'s stamp file, which changes whenever (c) is regenerated. */
async function cToken(dir: string, preset: PresetName): Promise<string> {
  const path = `${dir}/${preset}/src-c.stamp.json`;
  try {
    const token = (JSON.parse(await Deno.readTextFile(path)) as { token?: unknown }).token;
    if (typeof token === "string") return token;
  } catch {
    // Reported below.
  }
  throw new Error(`Cannot read the token of the mixed tree from "${path}"`);
}

/** Generates (or reuses) `ROOT/h/new`: a clone of (c), mutated. */
async function prepareMixed(
  root: string,
  dir: string,
  preset: PresetName,
): Promise<DeltaWorkload> {
  const p = PRESETS[preset];
  const [c] = await prepareWorkloads(dir, preset, ["c"], { log: (m) => console.log(`  ${m}`) });
  if (c === undefined) throw new Error("Cannot prepare the mixed tree (c)");
  const files = planMixed(p);
  const mutation = planTreeMutation(files, p, deriveSeed(p.seed, 0xa1));
  const expected = mutatedListing(files, mutation);
  const stamp: Stamp = {
    generator: DELTA_GENERATOR_VERSION,
    workload: "h",
    params: {
      seed: p.seed,
      mixedFiles: p.mixedFiles,
      mixedMinBytes: p.mixedMinBytes,
      mixedMaxBytes: p.mixedMaxBytes,
      mixedDirs: p.mixedDirs,
      mutationPercent: MUTATION_PERCENT,
      overwriteBytes: OVERWRITE_BYTES,
      basis: await cToken(dir, preset),
    },
  };
  const tree = `${root}/h/new`;
  const stampPath = `${root}/h.stamp.json`;
  let reuse = await stampMatches(stampPath, stamp);
  if (reuse) {
    try {
      reuse = diffManifests(expected, await listTree(tree)) === undefined;
    } catch {
      reuse = false;
    }
  }
  if (reuse) {
    console.log(`  reusing ${tree}`);
  } else {
    console.log(`  generating ${tree} ...`);
    const start = performance.now();
    await removeTree(stampPath);
    await removeTree(`${root}/h`);
    await Deno.mkdir(`${root}/h`, { recursive: true });
    await cloneTree(c.source, tree);
    await mutateTree(tree, mutation, new ContentSource(deriveSeed(p.seed, 0xa2)));
    const problem = diffManifests(expected, await listTree(tree));
    if (problem !== undefined) throw new Error(`Cannot generate "${tree}": ${problem}`);
    await Deno.writeTextFile(stampPath, JSON.stringify(stamp) + "\n");
    console.log(`  generated ${tree} in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  }
  const bytes = [...expected.values()].reduce((n, s) => n + s, 0);
  const oldBytes = [...c.expected.values()].reduce((n, s) => n + s, 0);
  return {
    id: "h",
    title: `mirror of the mixed tree (c) (${files.length} files, ${formatBytes(oldBytes)}) after ` +
      `${mutation.modify.length} modified in place, ${mutation.add.length} added, ` +
      `${mutation.remove.length} deleted`,
    kind: "mirror",
    old: c.source,
    fresh: tree,
    modulePath: "h/new",
    bytes,
  };
}

// ---------------------------------------------------------------------------------------------
// Loopback counters

/** Byte counters of one interface. */
export interface InterfaceBytes {
  /** Received bytes (field 1 after the label). */
  rx: number;
  /** Transmitted bytes (field 9 after the label). */
  tx: number;
}

/**
 * Parses `/proc/net/dev`.
 * @param text Its contents.
 * @returns Interface name → byte counters.
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { parseNetDev } from "./delta.ts";
 * const text = "h1\nh2\n    lo: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n";
 * assertEquals(parseNetDev(text).get("lo"), { rx: 10, tx: 20 });
 * ```
 */
export function parseNetDev(text: string): Map<string, InterfaceBytes> {
  const out = new Map<string, InterfaceBytes>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === "" || name.includes("|")) continue;
    const fields = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    const rx = fields[0];
    const tx = fields[8];
    if (rx === undefined || tx === undefined || !Number.isFinite(rx) || !Number.isFinite(tx)) {
      continue;
    }
    out.set(name, { rx, tx });
  }
  return out;
}

/** Reads `/proc/net/dev` through `cat` (Deno reads /proc only with --allow-all). */
async function readNetDev(): Promise<Map<string, InterfaceBytes>> {
  const out = await new Deno.Command("cat", {
    args: ["/proc/net/dev"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    const detail = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`Cannot read /proc/net/dev: ${detail || `exit code ${out.code}`}`);
  }
  return parseNetDev(new TextDecoder().decode(out.stdout));
}

/** Transmitted bytes of `lo` so far. */
async function loopbackTx(): Promise<number> {
  const lo = (await readNetDev()).get("lo");
  if (lo === undefined) throw new Error("Cannot find the loopback interface in /proc/net/dev");
  return lo.tx;
}

// ---------------------------------------------------------------------------------------------
// Timing

/** One column of a workload. */
interface DeltaColumn {
  label: string;
  tool: "rsyncd" | "blit";
  direction: "push" | "pull";
  invocation: Invocation;
  /**
   * The same command on the warm-up tree (see `makeWarmupTree` in bench/remote.ts), run after
   * the cache drop so that what the timed run loads is in memory.
   */
  warmup: Invocation;
  /** Local source tree (read before the run). */
  source: string;
  /** Local destination tree: reset to the old version before each run, checked after. */
  dst: string;
  /** A path that appears only if blit misread the remote endpoint as a local path. */
  misparsePath?: string;
}

/** A successful run. */
interface Sample {
  seconds: number;
  wireBytes: number;
  selfReported: number | null;
  /** (g): bytes the interrupted attempt left in the destination before the timed rerun. */
  partialBytes?: number;
}

/** All runs of one column on one workload. */
export interface DeltaColumnResult {
  /** Column header, e.g. `"blit push"`. */
  label: string;
  /** Wall-clock seconds of the successful runs, in run order. */
  seconds: number[];
  /** Kernel wire bytes (`lo` transmitted) of the successful runs. */
  wireBytes: number[];
  /** blit's self-reported `bytes_on_wire` of the successful runs (empty for rsync). */
  selfReportedBytes: number[];
  /** One message per failed run; a failed column is not run again. */
  failures: string[];
  /** Median seconds, `null` when a run failed or none ran. */
  medianSeconds: number | null;
  /** Median kernel wire bytes, `null` likewise. */
  medianWireBytes: number | null;
  /** Median of blit's `bytes_on_wire`, `null` for rsync or likewise. */
  medianSelfReportedBytes: number | null;
  /** (g) only: bytes the interrupted attempt left in the destination, per successful run. */
  partialBytes?: number[];
  /** (g) only: their median, `null` when a run failed or none ran. */
  medianPartialBytes?: number | null;
}

/** One target and whether it was met. */
export interface DeltaTarget {
  /** What is measured, e.g. `"(f) blit push wire / file"`. */
  name: string;
  /** The measured value, `null` when a column failed. */
  value: number | null;
  /** The upper limit. */
  limit: number;
  /** `value <= limit`, `null` when there is no value. */
  met: boolean | null;
  /**
   * What `value` is: a share of the file, a ratio of two columns, or the number of failed runs
   * of a check (limit 0).
   */
  unit: "share" | "ratio" | "failures";
}

/** One workload's results. */
export interface DeltaWorkloadResult {
  /** `f`, `g` or `h`. */
  id: DeltaId;
  /** Description with sizes. */
  title: string;
  /** Bytes of the new version. */
  bytes: number;
  /** Columns in table order. */
  columns: DeltaColumnResult[];
  /**
   * Named ratios (blit over rsyncd, shares of the file, self-reported over kernel; (g): rerun wire
   * and bytes kept by the interrupted attempt as shares of the file).
   */
  ratios: Record<string, number | null>;
  /** The targets of this workload. */
  targets: DeltaTarget[];
}

/** The whole report, as written by `--json`. */
export interface DeltaReport {
  /** ISO time the run started. */
  started: string;
  /** `full` or `quick`. */
  preset: string;
  /** Runs per column and workload. */
  runs: number;
  /** Work directory. */
  dir: string;
  /** Whether the page cache was dropped before each run. */
  droppedCaches: boolean;
  /** Whether `/proc/net/dev` listed only `lo` (a private network namespace). */
  privateNetwork: boolean;
  /** Machine and tool versions. */
  environment: Record<string, string>;
  /** Remarks printed with the tables. */
  notes: string[];
  /** One entry per workload. */
  results: DeltaWorkloadResult[];
}

interface Timed {
  code: number;
  seconds: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, stdout and stderr captured, timed by the wall clock. */
async function runTimed(inv: Invocation): Promise<Timed> {
  const command = new Deno.Command(inv.cmd, {
    args: inv.args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(inv.cwd === undefined ? {} : { cwd: inv.cwd }),
  });
  const start = performance.now();
  const out = await command.output();
  const seconds = (performance.now() - start) / 1000;
  const decoder = new TextDecoder();
  return {
    code: out.code,
    seconds,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr).trim().slice(-2000),
  };
}

/**
 * Reads `bytes_on_wire` from blit's JSON summary.
 * @param stdout blit's standard output (one JSON object).
 * @returns The count, or `null` when it is missing.
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { selfReportedBytes } from "./delta.ts";
 * assertEquals(selfReportedBytes('{"bytes_on_wire": 42}\n'), 42);
 * ```
 */
export function selfReportedBytes(stdout: string): number | null {
  try {
    const value = (JSON.parse(stdout) as { bytes_on_wire?: unknown }).bytes_on_wire;
    return typeof value === "number" && Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

interface Context {
  drop: boolean;
  /** Path of `setsid`, which starts (g)'s interrupted attempts in their own process group. */
  setsid?: string;
}

/**
 * Flushes and warms the column's trees, runs its warm-up (its command on the warm-up tree), then
 * runs the column's command, timed and with the loopback bytes counted around it.
 */
async function measure(
  column: DeltaColumn,
  ctx: Context,
): Promise<{ result: Timed; wireBytes: number }> {
  await syncAndDrop(ctx.drop);
  await warmTree(column.source);
  await warmTree(column.dst);
  const { warmup } = column;
  await runQuiet(warmup.cmd, warmup.args, warmup.cwd === undefined ? {} : { cwd: warmup.cwd });
  const before = await loopbackTx();
  const result = await runTimed(column.invocation);
  const after = await loopbackTx();
  return { result, wireBytes: after - before };
}

/**
 * Checks how a timed command ended: the remote endpoint not misread as a local path, exit code
 * 0, and for blit a JSON summary with `bytes_on_wire`.
 * @returns The failure, or blit's own count (`null` for rsync).
 */
async function checkEnding(
  column: DeltaColumn,
  result: Timed,
): Promise<{ failure: string } | { selfReported: number | null }> {
  if (column.misparsePath !== undefined && await exists(column.misparsePath)) {
    return {
      failure: `the command created the local path "${column.misparsePath}": it treated the ` +
        "remote endpoint as a local path (remove that directory)",
    };
  }
  if (result.code !== 0) {
    const tail = result.stderr.split("\n").slice(-3).join(" | ").slice(0, 400);
    return { failure: `exit code ${result.code}: ${tail}` };
  }
  if (column.tool !== "blit") return { selfReported: null };
  const selfReported = selfReportedBytes(result.stdout);
  if (selfReported === null) {
    return {
      failure: `Cannot read bytes_on_wire from blit's JSON summary: ` +
        `${result.stdout.trim().slice(0, 200) || "(no output)"}`,
    };
  }
  return { selfReported };
}

/** Resets, warms, times, counts and verifies one run of one column. */
async function timeColumn(
  column: DeltaColumn,
  w: DeltaWorkload,
  ctx: Context,
): Promise<Sample | { failure: string }> {
  await cloneTree(w.old, column.dst);
  const { result, wireBytes } = await measure(column, ctx);
  const ending = await checkEnding(column, result);
  if ("failure" in ending) return ending;
  const diff = await runQuiet("diff", ["-rq", "--no-dereference", w.fresh, column.dst]);
  if (diff.code !== 0) {
    const detail = await runTimed({
      cmd: "diff",
      args: ["-rq", "--no-dereference", w.fresh, column.dst],
    });
    const lines = `${detail.stdout}\n${detail.stderr}`.trim().split("\n").slice(0, 3).join(" | ");
    return { failure: `wrong result (diff exit code ${diff.code}): ${lines.slice(0, 400)}` };
  }
  return { seconds: result.seconds, wireBytes, selfReported: ending.selfReported };
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function summariseColumn(
  label: string,
  samples: readonly Sample[],
  failures: string[],
  resume: boolean,
): DeltaColumnResult {
  const ok = failures.length === 0 && samples.length > 0;
  const self = samples.map((s) => s.selfReported).filter((n): n is number => n !== null);
  const kept = samples.map((s) => s.partialBytes).filter((n): n is number => n !== undefined);
  return {
    label,
    seconds: samples.map((s) => s.seconds),
    wireBytes: samples.map((s) => s.wireBytes),
    selfReportedBytes: self,
    failures,
    medianSeconds: ok ? median(samples.map((s) => s.seconds)) : null,
    medianWireBytes: ok ? median(samples.map((s) => s.wireBytes)) : null,
    medianSelfReportedBytes: ok && self.length > 0 ? median(self) : null,
    ...(resume ? { partialBytes: kept, medianPartialBytes: ok ? median(kept) : null } : {}),
  };
}

/**
 * Times every column `runs` times, interleaved: run r uses the column order rotated by r.
 * `time` does one run of one column.
 */
async function timeWorkload<C extends DeltaColumn>(
  w: DeltaWorkload,
  columns: C[],
  runs: number,
  time: (column: C) => Promise<Sample | { failure: string }>,
): Promise<DeltaColumnResult[]> {
  const samples = new Map<string, Sample[]>(columns.map((c) => [c.label, []]));
  const failures = new Map<string, string[]>(columns.map((c) => [c.label, []]));
  for (let r = 0; r < runs; r++) {
    const parts: string[] = [];
    for (const column of rotate(columns, r)) {
      const failed = failures.get(column.label) ?? [];
      if (failed.length > 0) continue;
      const outcome = await time(column);
      if ("failure" in outcome) {
        failed.push(outcome.failure);
        parts.push(`${column.label} FAILED`);
        console.log(`  (${w.id}) ${column.label} failed: ${outcome.failure}`);
      } else {
        samples.get(column.label)?.push(outcome);
        const self = outcome.selfReported === null
          ? ""
          : ` (self ${formatBytes(outcome.selfReported)})`;
        const kept = outcome.partialBytes === undefined
          ? ""
          : `, ${formatBytes(outcome.partialBytes)} kept`;
        parts.push(
          `${column.label} ${formatSeconds(outcome.seconds)} ` +
            `${formatBytes(outcome.wireBytes)}${self}${kept}`,
        );
      }
    }
    console.log(`  (${w.id}) run ${r + 1}/${runs}: ${parts.join(" | ")}`);
  }
  const resume = w.kind === "resume";
  return columns.map((c) =>
    summariseColumn(c.label, samples.get(c.label) ?? [], failures.get(c.label) ?? [], resume)
  );
}

/** The four columns of one workload. */
function columnsOf(
  w: DeltaWorkload,
  root: string,
  rsync: string,
  rsyncPort: number,
  blitAddress: string,
): DeltaColumn[] {
  const mirror = w.kind === "mirror";
  const rsyncUrl = (path: string): string => `rsync://127.0.0.1:${rsyncPort}/bench/${path}/`;
  const blitRemote = (path: string): string => `${blitAddress}:/bench/${path}/`;
  const rsyncFlags = mirror
    ? ["-a", "--delete"]
    : w.kind === "resume"
    ? ["-a", "--partial"]
    : ["-a"];
  const blitVerb = mirror ? ["mirror", "--yes", "--json"] : ["copy", "--json"];
  const misparsePath = `${REPO_ROOT}/${blitAddress}:`;
  const rdst = `${root}/rdst`;
  const dst = `${root}/dst`;
  const moduleSource = `${root}/${w.modulePath}`;
  const warmupSource = `${root}/${WARMUP_SOURCE}`;
  const warmed = (column: string): string => `${root}/${WARMUP_DIR}/${column}/`;
  return [
    {
      label: "rsyncd push",
      tool: "rsyncd",
      direction: "push",
      invocation: { cmd: rsync, args: [...rsyncFlags, `${w.fresh}/`, rsyncUrl("rdst")] },
      warmup: {
        cmd: rsync,
        args: [...rsyncFlags, `${warmupSource}/`, rsyncUrl(`${WARMUP_DIR}/push-rsyncd`)],
      },
      source: w.fresh,
      dst: rdst,
    },
    {
      label: "rsyncd pull",
      tool: "rsyncd",
      direction: "pull",
      invocation: { cmd: rsync, args: [...rsyncFlags, rsyncUrl(w.modulePath), `${dst}/`] },
      warmup: {
        cmd: rsync,
        args: [...rsyncFlags, rsyncUrl(WARMUP_SOURCE), warmed("pull-rsyncd")],
      },
      source: moduleSource,
      dst,
    },
    {
      label: "blit push",
      tool: "blit",
      direction: "push",
      invocation: blitInvocation([...blitVerb, `${w.fresh}/`, blitRemote("rdst")]),
      warmup: blitInvocation([
        ...blitVerb,
        `${warmupSource}/`,
        blitRemote(`${WARMUP_DIR}/push-blit`),
      ]),
      source: w.fresh,
      dst: rdst,
      misparsePath,
    },
    {
      label: "blit pull",
      tool: "blit",
      direction: "pull",
      invocation: blitInvocation([...blitVerb, blitRemote(w.modulePath), `${dst}/`]),
      warmup: blitInvocation([...blitVerb, blitRemote(WARMUP_SOURCE), warmed("pull-blit")]),
      source: moduleSource,
      dst,
      misparsePath,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// (g): resume after an interruption

/** A column of (g): its interrupted first attempt, then the timed rerun (`invocation`). */
interface ResumeColumn extends DeltaColumn {
  /** The first attempt: the same command, without `--json`. */
  first: Invocation;
  /** The signal sent to the first attempt's process group. */
  signal: Deno.Signal;
  /** Name prefix of the growing file to watch (`null`: any regular file). */
  growing: string | null;
  /** A name the destination must hold before it counts as settled (`null`: none). */
  settledWith: string | null;
}

/**
 * Turns a column of (g) into its resume column. blit's client gets SIGKILL and its growing file
 * is its partial file; rsync's client is killed the same way on a push (the daemon's receiver
 * keeps the partial file under the final name), but on a pull its process group gets SIGTERM:
 * the client is then rsync's receiver, which keeps a partial file only when it can catch the
 * signal. rsync's growing file is its `.big.bin.XXXXXX` temporary, so any regular file is
 * watched, and the destination has settled only once it holds the kept file as `big.bin`.
 */
function resumeColumn(column: DeltaColumn): ResumeColumn {
  const blit = column.tool === "blit";
  return {
    ...column,
    first: { ...column.invocation, args: column.invocation.args.filter((a) => a !== "--json") },
    signal: !blit && column.direction === "pull" ? "SIGTERM" : "SIGKILL",
    growing: blit ? PARTIAL_PREFIX : null,
    settledWith: blit ? null : BIG_NAME,
  };
}

/** A regular file of a directory. */
export interface DirFile {
  /** Its name. */
  name: string;
  /** Its size in bytes. */
  size: number;
}

/**
 * Size of the largest file whose name starts with `prefix`.
 * @param files The directory's regular files.
 * @param prefix Name prefix; `null` for any file.
 * @returns Its size, 0 when there is none.
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { growingSize } from "./delta.ts";
 * assertEquals(growingSize([{ name: ".p-a", size: 5 }, { name: "b", size: 9 }], ".p-"), 5);
 * ```
 */
export function growingSize(files: readonly DirFile[], prefix: string | null): number {
  let size = 0;
  for (const f of files) {
    if (prefix === null || f.name.startsWith(prefix)) size = Math.max(size, f.size);
  }
  return size;
}

/**
 * What is wrong with a destination that should hold exactly one file, `name`, after a rerun.
 * @param names Names in the destination.
 * @param name The expected file.
 * @returns The problem, or `undefined` when `name` is all there is.
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { leftoverProblem } from "./delta.ts";
 * assertEquals(leftoverProblem(["big.bin"], "big.bin"), undefined);
 * ```
 */
export function leftoverProblem(names: readonly string[], name: string): string | undefined {
  const others = names.filter((n) => n !== name).sort();
  if (others.length === 0 && names.includes(name)) return undefined;
  const problems: string[] = [];
  if (!names.includes(name)) problems.push(`"${name}" is missing`);
  const temporaries = others.filter(isTemporaryName);
  if (temporaries.length > 0) {
    problems.push(`blit temporaries were left: ${temporaries.map((n) => `"${n}"`).join(", ")}`);
  }
  const strays = others.filter((n) => !isTemporaryName(n));
  if (strays.length > 0) {
    problems.push(`other entries were left: ${strays.map((n) => `"${n}"`).join(", ")}`);
  }
  return problems.join("; ");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The regular files directly in `dir`, sorted by name; a file gone meanwhile is skipped. */
async function listFiles(dir: string): Promise<DirFile[]> {
  const files: DirFile[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile) continue;
    try {
      files.push({ name: entry.name, size: (await Deno.lstat(`${dir}/${entry.name}`)).size });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return files.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/** Removes `dir` and creates it again, empty. */
async function emptyDir(dir: string): Promise<void> {
  await removeTree(dir);
  await Deno.mkdir(dir, { recursive: true });
}

/** Sends `signal` to the process group `pid` leads; `false` when the group is gone. */
function signalGroup(pid: number, signal: Deno.Signal): boolean {
  try {
    Deno.kill(-pid, signal);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Starts the column's first attempt in its own process group and sends that group the column's
 * signal once the growing file holds {@linkcode INTERRUPT_SHARE} of `bytes`.
 * @returns The problem, or `undefined` when the attempt was interrupted.
 */
async function interrupt(
  column: ResumeColumn,
  bytes: number,
  setsid: string,
): Promise<string | undefined> {
  const threshold = Math.ceil(bytes * INTERRUPT_SHARE);
  const child = new Deno.Command(setsid, {
    args: [column.first.cmd, ...column.first.args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(column.first.cwd === undefined ? {} : { cwd: column.first.cwd }),
  }).spawn();
  let exited = false;
  const ended = child.output().finally(() => {
    exited = true;
  });
  let signalled = false;
  try {
    while (!exited && !signalled) {
      if (growingSize(await listFiles(column.dst), column.growing) >= threshold) {
        signalled = signalGroup(child.pid, column.signal);
      } else {
        await sleep(POLL_MS);
      }
    }
  } finally {
    if (!exited && !signalled) signalGroup(child.pid, "SIGKILL");
    await ended.catch(() => undefined);
  }
  if (signalled) return undefined;
  const out = await ended;
  const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
  return `the first attempt ended (exit code ${out.code}) before its file held ` +
    `${INTERRUPT_SHARE * 100}% of ${formatBytes(bytes)}: ${tail.slice(0, 400) || "(no output)"}`;
}

/**
 * Waits until the destination's listing (names and sizes) has stayed the same for
 * {@linkcode SETTLE_MS} and holds `required` (if not `null`), or {@linkcode SETTLE_LIMIT_MS}
 * have passed: on a push the daemon may still be writing when the client is gone.
 * @returns The bytes of the regular files in the destination.
 */
async function settle(dir: string, required: string | null): Promise<number> {
  const start = performance.now();
  let last = "";
  let since = start;
  for (;;) {
    const files = await listFiles(dir);
    const now = performance.now();
    const key = files.map((f) => `${f.name}\0${f.size}`).join("\0");
    if (key !== last) {
      last = key;
      since = now;
    }
    const ready = required === null || files.some((f) => f.name === required);
    if ((ready && now - since >= SETTLE_MS) || now - start >= SETTLE_LIMIT_MS) {
      return files.reduce((n, f) => n + f.size, 0);
    }
    await sleep(20);
  }
}

/** Checks the destination after a rerun: exactly `big.bin`, byte-identical to the source. */
async function verifyResumed(column: ResumeColumn, sourceDir: string): Promise<string | undefined> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(column.dst)) names.push(entry.name);
  const problem = leftoverProblem(names, BIG_NAME);
  if (problem !== undefined) return `wrong result: ${problem}`;
  const cmp = await runQuiet("cmp", [`${sourceDir}/${BIG_NAME}`, `${column.dst}/${BIG_NAME}`]);
  if (cmp.code === 0) return undefined;
  return cmp.code === 1
    ? `wrong result: "${column.dst}/${BIG_NAME}" differs from the source`
    : `Cannot compare "${column.dst}/${BIG_NAME}" with the source: ${cmp.stderr.slice(0, 300)}`;
}

/**
 * One run of a (g) column: empties the destination, interrupts a first attempt at half the
 * file, waits for the destination to settle, then times, counts and verifies the rerun.
 */
async function timeResume(
  column: ResumeColumn,
  w: DeltaWorkload,
  ctx: Context,
): Promise<Sample | { failure: string }> {
  if (ctx.setsid === undefined) return { failure: "Cannot interrupt a run: setsid is not on PATH" };
  await emptyDir(column.dst);
  const interrupted = await interrupt(column, w.bytes, ctx.setsid);
  if (interrupted !== undefined) return { failure: interrupted };
  const partialBytes = await settle(column.dst, column.settledWith);
  const { result, wireBytes } = await measure(column, ctx);
  const ending = await checkEnding(column, result);
  if ("failure" in ending) return ending;
  const problem = await verifyResumed(column, w.fresh);
  if (problem !== undefined) return { failure: problem };
  return { seconds: result.seconds, wireBytes, selfReported: ending.selfReported, partialBytes };
}

// ---------------------------------------------------------------------------------------------
// Report

function ratio(top: number | null | undefined, bottom: number | null | undefined): number | null {
  if (top === null || top === undefined || bottom === null || bottom === undefined) return null;
  return bottom === 0 ? null : top / bottom;
}

function times(value: number | null): string {
  return value === null ? "–" : `${value.toFixed(2)}x`;
}

function percent(value: number | null): string {
  return value === null ? "–" : `${(value * 100).toFixed(2)}%`;
}

/**
 * The ratios and targets of one workload.
 * @param id Workload.
 * @param bytes Bytes of the new version.
 * @param columns Its columns.
 * @returns Named ratios and the targets.
 */
export function evaluate(
  id: DeltaId,
  bytes: number,
  columns: readonly DeltaColumnResult[],
): { ratios: Record<string, number | null>; targets: DeltaTarget[] } {
  const by = new Map(columns.map((c) => [c.label, c]));
  const ratios: Record<string, number | null> = {};
  const targets: DeltaTarget[] = [];
  const target = (
    name: string,
    value: number | null,
    limit: number,
    unit: DeltaTarget["unit"],
  ): void => {
    targets.push({ name, value, limit, met: value === null ? null : value <= limit, unit });
  };
  for (const direction of ["push", "pull"] as const) {
    const blit = by.get(`blit ${direction}`);
    const rsyncd = by.get(`rsyncd ${direction}`);
    const time = ratio(blit?.medianSeconds, rsyncd?.medianSeconds);
    const wire = ratio(blit?.medianWireBytes, rsyncd?.medianWireBytes);
    ratios[`blit ${direction}/rsyncd ${direction} time`] = time;
    ratios[`blit ${direction}/rsyncd ${direction} wire`] = wire;
    ratios[`blit ${direction} self-reported/kernel wire`] = ratio(
      blit?.medianSelfReportedBytes,
      blit?.medianWireBytes,
    );
    if (id !== "h") {
      for (const label of [`rsyncd ${direction}`, `blit ${direction}`]) {
        ratios[`${label} wire/file`] = ratio(by.get(label)?.medianWireBytes, bytes);
        if (id === "g") {
          ratios[`${label} kept/file`] = ratio(by.get(label)?.medianPartialBytes, bytes);
        }
      }
    }
    const blitShare = ratios[`blit ${direction} wire/file`] ?? null;
    if (id === "f") {
      target(`(f) blit ${direction} wire/file`, blitShare, TARGET_F_WIRE_SHARE, "share");
      target(`(f) blit ${direction}/rsyncd ${direction} time`, time, TARGET_F_TIME_RATIO, "ratio");
    } else if (id === "g") {
      target(`(g) blit ${direction} rerun wire/file`, blitShare, TARGET_G_WIRE_SHARE, "share");
      const failed = blit === undefined ? null : blit.failures.length;
      target(
        `(g) blit ${direction} final file identical, no partial left`,
        failed === 0 && blit?.seconds.length === 0 ? null : failed,
        0,
        "failures",
      );
    } else {
      target(`(h) blit ${direction}/rsyncd ${direction} wire`, wire, TARGET_H_WIRE_RATIO, "ratio");
    }
  }
  return { ratios, targets };
}

function pad(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((row) =>
    row.map((text, i) => (i === 0 ? text.padEnd(widths[i] ?? 0) : text.padStart(widths[i] ?? 0)))
      .join("  ")
  ).join("\n");
}

/**
 * Renders one workload: the table of medians, the ratio lines and the targets.
 * @param r The workload's result.
 * @returns The text.
 */
export function renderWorkload(r: DeltaWorkloadResult): string {
  const resume = r.id === "g";
  const q = r.ratios;
  const rows: string[][] = [
    resume
      ? [
        "column",
        "rerun time",
        "rerun wire (kernel lo tx)",
        "wire/file",
        "kept/file",
        "blit bytes_on_wire",
      ]
      : ["column", "time", "wire (kernel lo tx)", "blit bytes_on_wire"],
  ];
  for (const c of r.columns) {
    const failed = c.failures.length > 0;
    const num = (v: number | null, f: (n: number) => string): string =>
      failed ? "FAIL" : v === null ? "–" : f(v);
    const shares = resume
      ? [
        num(q[`${c.label} wire/file`] ?? null, percent),
        num(q[`${c.label} kept/file`] ?? null, percent),
      ]
      : [];
    rows.push([
      c.label,
      num(c.medianSeconds, formatSeconds),
      num(c.medianWireBytes, formatBytes),
      ...shares,
      c.label.startsWith("blit") ? num(c.medianSelfReportedBytes, formatBytes) : "–",
    ]);
  }
  const lines = [`(${r.id}) ${r.title}`, pad(rows)];
  for (const d of ["push", "pull"]) {
    lines.push(
      `blit ${d}/rsyncd ${d}: time ${times(q[`blit ${d}/rsyncd ${d} time`] ?? null)}, ` +
        `wire ${times(q[`blit ${d}/rsyncd ${d} wire`] ?? null)}`,
    );
  }
  if (r.id === "f") {
    const shares = ["rsyncd push", "rsyncd pull", "blit push", "blit pull"].map((l) =>
      `${l} ${percent(q[`${l} wire/file`] ?? null)}`
    );
    lines.push(`wire as a share of the file (${formatBytes(r.bytes)}): ${shares.join(", ")}`);
  }
  lines.push(
    `blit bytes_on_wire/kernel count: push ${
      times(q["blit push self-reported/kernel wire"] ?? null)
    }, pull ${times(q["blit pull self-reported/kernel wire"] ?? null)}`,
  );
  if (resume) {
    lines.push(
      `kept = bytes the interrupted attempt left in the destination; file ${formatBytes(r.bytes)}`,
    );
  }
  for (const t of r.targets) {
    if (t.unit === "failures") {
      const verdict = t.met === null
        ? "no value"
        : t.met
        ? "met"
        : `FAIL (${t.value} failed run${t.value === 1 ? "" : "s"})`;
      lines.push(`target ${t.name}: ${verdict}`);
      continue;
    }
    const shown = t.unit === "share" ? percent : times;
    const verdict = t.met === null ? "no value" : t.met ? "met" : "MISSED";
    lines.push(`target ${t.name} ${shown(t.value)} <= ${shown(t.limit)}: ${verdict}`);
  }
  return lines.join("\n");
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return new TextDecoder().decode(out.stdout).split("\n")[0]?.trim() ?? "";
  } catch {
    return "not installed";
  }
}

// ---------------------------------------------------------------------------------------------
// Entry point

/**
 * Runs the delta bench and returns the exit code: 0 every run verified, 1 a run failed or the
 * bench could not run, 2 bad usage.
 * Requires `--allow-read --allow-write --allow-run --allow-env --allow-sys`.
 * @param argv Command-line arguments.
 * @returns The exit code.
 */
export async function main(argv: string[]): Promise<number> {
  let opts: DeltaOptions;
  try {
    opts = parseDeltaArgs(argv);
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    console.error(HELP);
    return 2;
  }
  if (opts.help) {
    console.log(HELP);
    return 0;
  }
  try {
    return await run(opts);
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

async function run(opts: DeltaOptions): Promise<number> {
  const started = new Date();
  const notes: string[] = [];
  const note = (text: string): void => {
    notes.push(text);
    console.log(`note: ${text}`);
  };
  console.log(`blit delta bench: preset ${opts.preset}, ${opts.runs} runs, dir ${opts.dir}`);
  const others = [...(await readNetDev()).keys()].filter((name) => name !== "lo");
  if (others.length > 0) {
    note(
      `/proc/net/dev lists ${others.join(", ")} besides lo: this is not a private network ` +
        "namespace, so the loopback counts include other traffic; `deno task bench:delta` runs " +
        "the bench under `unshare -n`",
    );
  }
  const drop = await canDropCaches();
  if (!drop) note("page cache not dropped: /proc/sys/vm/drop_caches is not writable (needs root)");
  if (await freePageReporting()) note(FREE_PAGE_REPORTING_NOTE);
  const rsync = await findInPath("rsync");
  if (rsync === undefined) throw new Error("Cannot run the delta bench: rsync is not on PATH");
  const probe = blitInvocation(["--version"]);
  const version = await runQuiet(probe.cmd, probe.args, { cwd: REPO_ROOT });
  if (version.code !== 0) {
    throw new Error(
      `Cannot run blit: "blit --version" exited with ${version.code}: ` +
        version.stderr.split("\n").slice(-2).join(" "),
    );
  }

  const root = `${opts.dir}/delta-${opts.preset}`;
  try {
    await Deno.mkdir(root, { recursive: true });
  } catch (error) {
    throw new Error(`Cannot create "${root}": ${error instanceof Error ? error.message : error}`);
  }
  const p = PRESETS[opts.preset];
  let big: DeltaWorkload | undefined;
  const workloads: DeltaWorkload[] = [];
  for (const id of opts.only) {
    if (id === "h") {
      workloads.push(await prepareMixed(root, opts.dir, opts.preset));
    } else {
      big ??= await prepareBig(root, p);
      workloads.push(id === "f" ? big : resumeWorkload(big));
    }
  }
  const setsid = await findInPath("setsid");
  if (opts.only.includes("g") && setsid === undefined) {
    throw new Error("Cannot run workload (g): setsid is not on PATH");
  }
  console.log("workloads:");
  for (const w of workloads) console.log(`  (${w.id}) ${w.title}`);

  await makeWarmupTree(root);
  const results: DeltaWorkloadResult[] = [];
  let rsyncd: RsyncDaemon | undefined;
  let blitd: BlitDaemon | undefined;
  const stopAll = () => Promise.allSettled([rsyncd?.stop(), blitd?.stop()]);
  const stopOnSignal = (): void => {
    stopAll().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", stopOnSignal);
  const wallStart = performance.now();
  try {
    rsyncd = await startRsyncDaemon(root, { module: "bench" });
    console.log(`rsync daemon: pid ${rsyncd.pid}, port ${rsyncd.port}, module bench = ${root}`);
    blitd = await startBlitDaemon(root, "bench", { tls: true });
    console.log(`blit daemon (tls on): pid ${blitd.pid}, ${blitd.address}, module bench = ${root}`);
    const ctx: Context = { drop, ...(setsid === undefined ? {} : { setsid }) };
    for (const w of workloads) {
      const columns = columnsOf(w, root, rsync, rsyncd.port, blitd.address);
      const cols = w.kind === "resume"
        ? await timeWorkload(w, columns.map(resumeColumn), opts.runs, (c) => timeResume(c, w, ctx))
        : await timeWorkload(w, columns, opts.runs, (c) => timeColumn(c, w, ctx));
      results.push({
        id: w.id,
        title: w.title,
        bytes: w.bytes,
        columns: cols,
        ...evaluate(w.id, w.bytes, cols),
      });
    }
  } finally {
    Deno.removeSignalListener("SIGINT", stopOnSignal);
    await stopAll();
    await removeTree(`${root}/rdst`);
    await removeTree(`${root}/dst`);
    await removeTree(`${root}/${WARMUP_DIR}`);
  }
  const wallSeconds = (performance.now() - wallStart) / 1000;

  if (opts.only.includes("g")) {
    notes.push(
      `(g): the client is killed once the growing file holds ${INTERRUPT_SHARE * 100}% of the ` +
        "file: SIGKILL for blit and rsyncd push, SIGTERM to the process group for rsyncd pull " +
        "(rsync's receiver keeps its --partial file only on a signal it can catch); only the " +
        "rerun is timed and counted",
    );
  }
  notes.push(
    "wire = transmitted bytes of lo in /proc/net/dev around each run (each loopback packet is " +
      "counted once as sent, once as received; the sent count is used), TCP/IP headers included; " +
      "blit's bytes_on_wire counts its socket payload (TLS estimated), without TCP/IP headers",
  );
  console.log(`\nmedians of ${opts.runs} runs (timing phase ${wallSeconds.toFixed(1)} s):`);
  for (const r of results) console.log(`\n${renderWorkload(r)}`);
  console.log("");
  for (const text of notes) console.log(`note: ${text}`);

  if (opts.json !== undefined) {
    const report: DeltaReport = {
      started: started.toISOString(),
      preset: opts.preset,
      runs: opts.runs,
      dir: opts.dir,
      droppedCaches: drop,
      privateNetwork: others.length === 0,
      environment: {
        deno: Deno.version.deno,
        kernel: Deno.osRelease(),
        cpus: String(navigator.hardwareConcurrency),
        rsync: await firstLine(rsync, ["--version"]),
      },
      notes,
      results,
    };
    await Deno.writeTextFile(opts.json, JSON.stringify(report, null, 2) + "\n");
    console.log(`wrote ${opts.json}`);
  }
  const failed = results.some((r) => r.columns.some((c) => c.failures.length > 0));
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
