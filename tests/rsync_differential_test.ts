/**
 * Differential test of where a local transfer lands, with rsync as the oracle.
 *
 * Each case builds the same working directory twice, runs rsync in one copy and
 * `blit copy|mirror SRC DST --yes --no-history` in the other, from inside that directory and with
 * relative paths exactly as a user types them (trailing slashes included). The oracle for `copy` is
 * `rsync -a`, for `mirror` `rsync -a --delete`. The outcomes must fall in the same class:
 *
 * - rsync exits 0: blit exits 0, and the whole working directory is the same after both runs:
 *   names, kinds, file bytes, link targets, modes, file mtimes, and directory mtimes (a directory
 *   time the run itself changed is compared only as "set by the run", since the runs happen at
 *   different instants);
 * - rsync fails and changes nothing: blit exits 1 with one line on stderr and no stack trace, and
 *   the working directory is exactly as before (when rsync's exit is 23 or 24, "some files were not
 *   transferred", blit may instead exit 2 with the same unchanged tree);
 * - rsync exits 23 or 24 after changing something: blit exits 2 ("some files failed") and the
 *   resulting trees are the same. For example copy, like `rsync -a` without `--force`, keeps a
 *   non-empty directory where the source has a file, and reports it.
 *
 * Files get whole-second mtimes, and a destination file that differs from its source always has
 * another mtime, so rsync's quick check (size and mtime to the second) and blit's (size and mtime)
 * take the same decisions.
 *
 * Cases:
 *
 * - fixed: every SRC form (a directory, `dir/`, a file, `file/`, a link to a file, `link/`, a link
 *   to a directory, `linkdir/`) against every DST situation (missing; an empty directory; a
 *   directory holding a same-named file, a same-named directory with content, or a same-named link;
 *   a file; a link to a directory; a link to a file; a dangling link), each with and without a
 *   trailing slash on DST; copy and mirror alternate so that every pair of SRC form and DST
 *   situation runs with both;
 * - random: seeded trees (files of a few sizes, nested and empty directories, links) against random
 *   destinations (the situations above, holding altered copies of the source tree: changed files,
 *   entries of another kind, missing and extra entries; even seeds copy, odd seeds mirror). Random
 *   case `i` uses seed `BASE + i`, shown in its step name; `BLIT_DIFF_SEED=N` sets `BASE` (default
 *   20251201), so a failing case replays as the first random case with `BLIT_DIFF_SEED=<its seed>`.
 *
 * Deliberate differences of blit, kept out of the comparison and asserted in their own steps:
 *
 * - blit creates missing parent directories of DST, as `rsync --mkpath` does; plain rsync fails
 *   (`mkdir … failed: No such file or directory`). Those steps check that plain rsync fails and
 *   changes nothing, and that blit's result equals that of `rsync --mkpath`.
 * - blit refuses SRC equal to DST, DST inside SRC (links resolved) and, for mirror, SRC inside DST:
 *   exit 1, one line on stderr, nothing written. rsync would copy a tree into itself, or do nothing.
 *
 * One rsync artifact is not followed: for `SRC/` where SRC is not a directory, rsync exits 23 ("Not
 * a directory") but has already created DST when DST was missing and written with a slash; blit
 * refuses before writing anything, and these cases only check that rsync fails.
 *
 * Not compared: symlink mtimes (blit does not preserve them), ownership.
 *
 * The test is skipped, with the reason printed, when rsync 3.2.4 or later is not installed.
 *
 * @module
 */

import { assertNoStack, decodeOutput, runBlit, type RunResult } from "./_helpers.ts";

/** The verbs compared. */
type Verb = "copy" | "mirror";

/** One entry of a working directory to build (times in whole seconds). */
type Node =
  | { kind: "file"; data: Uint8Array; mode: number; mtime: number }
  | { kind: "dir"; mode: number; mtime: number }
  | { kind: "symlink"; target: string };

/** A working directory: relative path → entry; missing parents are added as plain directories. */
type Layout = Map<string, Node>;

/** One case: a working directory, a verb, and SRC and DST as typed. */
interface Case {
  /** Step name. */
  name: string;
  verb: Verb;
  src: string;
  dst: string;
  layout: Layout;
  /**
   * `compare` with rsync; `source-error` (SRC/ of a non-directory): rsync must fail, and blit
   * refuse and change nothing; `refusal`: blit alone, which must refuse and change nothing.
   */
  expect: "compare" | "source-error" | "refusal";
  /** rsync flags of the oracle. */
  oracle: string[];
  /** rsync flags that must fail and change nothing (a known difference); run in a copy of its own. */
  plainFails?: string[];
}

/** What running a case produced. */
interface Outcome {
  before: string[];
  plain?: RunResult;
  plainAfter?: string[];
  rsync?: RunResult;
  rsyncAfter?: string[];
  rsyncAfterExact?: string[];
  blit: RunResult;
  blitAfter: string[];
  blitAfterExact: string[];
}

/** Times (seconds) of source entries, of pre-existing destination entries, and of the rest. */
const SRC_T = 1_650_000_000;
const OLD_T = 1_550_000_000;
const BASE_T = 1_500_000_000;
/** An mtime at or after this instant (ms) was set by the run, not by the test. */
const RUN_MARK = Date.UTC(2024, 0, 1);
const RANDOM_CASES = 48;
const PARALLEL = 2;

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Availability of rsync

/** Why the test cannot run here, or null when rsync is usable. */
function rsyncMissingReason(): string | null {
  let text: string;
  try {
    const out = new Deno.Command("rsync", { args: ["--version"], stdout: "piped", stderr: "null" })
      .outputSync();
    text = new TextDecoder().decode(out.stdout);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return "rsync is not installed (.ci/run installs it with apt-get)";
    }
    return `cannot run rsync: ${error instanceof Error ? error.message : String(error)}`;
  }
  const match = /version\s+(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!match) return `cannot read rsync's version from "${text.split("\n", 1)[0]}"`;
  const [major, minor, patch] = match.slice(1).map(Number) as [number, number, number];
  if (major * 10_000 + minor * 100 + patch < 30_204) {
    return `rsync ${major}.${minor}.${patch} is older than 3.2.4 (the rules were taken from 3.2.7)`;
  }
  return null;
}

const SKIP_REASON = rsyncMissingReason();
if (SKIP_REASON) console.log(`rsync differential: skipped: ${SKIP_REASON}`);

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** A small deterministic PRNG (mulberry32). */
class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  shuffled<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

function baseSeed(): number {
  const text = Deno.env.get("BLIT_DIFF_SEED");
  if (text === undefined || text === "") return 20251201;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`BLIT_DIFF_SEED must be a non-negative integer, got "${text}"`);
  }
  return seed;
}

// ---------------------------------------------------------------------------------------------
// Layouts: building and reading back

function file(data: Uint8Array | string, mtime: number, mode = 0o644): Node {
  return {
    kind: "file",
    data: typeof data === "string" ? encoder.encode(data) : data,
    mode,
    mtime,
  };
}

function dir(mtime: number, mode = 0o755): Node {
  return { kind: "dir", mode, mtime };
}

function link(target: string): Node {
  return { kind: "symlink", target };
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

function baseName(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop() ?? path;
}

/** Depth of a layout path: the number of directories above it. */
function depthOf(path: string): number {
  return path.split("/").length - 1;
}

/** A relative link target reaching the top-level `real` directory from a link at `path`. */
function toReal(path: string): string {
  return `${"../".repeat(depthOf(path))}real`;
}

/** Removes `path` and everything below it from a layout. */
function removeTree(layout: Layout, path: string): void {
  for (const key of [...layout.keys()]) {
    if (key === path || key.startsWith(`${path}/`)) layout.delete(key);
  }
}

/** The entries below `root`, keyed by their path relative to it. */
function subtree(layout: Layout, root: string): Layout {
  const out: Layout = new Map();
  for (const [path, node] of layout) {
    if (path.startsWith(`${root}/`)) out.set(path.slice(root.length + 1), node);
  }
  return out;
}

function byPath<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Creates a layout under `root`, then sets modes and times (directories last, deepest first). */
async function build(root: string, layout: Layout): Promise<void> {
  const all: Layout = new Map(layout);
  for (const path of layout.keys()) {
    for (let p = parentOf(path); p !== ""; p = parentOf(p)) {
      if (!all.has(p)) all.set(p, dir(BASE_T));
    }
  }
  const entries = [...all].sort(byPath);
  for (const [path, node] of entries) {
    const abs = `${root}/${path}`;
    if (node.kind === "dir") await Deno.mkdir(abs);
    else if (node.kind === "symlink") await Deno.symlink(node.target, abs);
    else {
      await Deno.writeFile(abs, node.data);
      await Deno.chmod(abs, node.mode);
      await Deno.utime(abs, node.mtime, node.mtime);
    }
  }
  for (const [path, node] of entries.reverse()) {
    if (node.kind !== "dir") continue;
    await Deno.chmod(`${root}/${path}`, node.mode);
    await Deno.utime(`${root}/${path}`, node.mtime, node.mtime);
  }
}

async function digest(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...hash.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function showTime(ms: number, normalise: boolean): string {
  if (normalise && ms >= RUN_MARK) return "mtime set by the run";
  return `mtime ${new Date(ms).toISOString()}`;
}

/**
 * Reads a working directory back as sorted lines, one per entry.
 * @param root The directory.
 * @param normalise Show times set by the run as such, instead of their value.
 */
async function snapshot(root: string, normalise: boolean): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (abs: string, rel: string): Promise<void> => {
    const names: string[] = [];
    for await (const entry of Deno.readDir(abs)) names.push(entry.name);
    for (const name of names.sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const full = `${abs}/${name}`;
      const info = await Deno.lstat(full);
      const mode = ((info.mode ?? 0) & 0o7777).toString(8).padStart(4, "0");
      const time = showTime(info.mtime?.getTime() ?? 0, normalise);
      if (info.isSymlink) lines.push(`${path}: link -> ${await Deno.readLink(full)}`);
      else if (info.isDirectory) {
        lines.push(`${path}/: dir ${mode} ${time}`);
        await walk(full, path);
      } else if (info.isFile) {
        const data = await Deno.readFile(full);
        lines.push(`${path}: file ${mode} ${data.length} B sha256:${await digest(data)} ${time}`);
      } else lines.push(`${path}: special ${mode}`);
    }
  };
  await walk(root, "");
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Running a case

async function runRsync(args: string[], cwd: string): Promise<RunResult> {
  return decodeOutput(
    await new Deno.Command("rsync", {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { LC_ALL: "C" },
    }).output(),
  );
}

/** Builds `layout` in a new directory `path`. */
async function fresh(path: string, layout: Layout): Promise<string> {
  await Deno.mkdir(path, { recursive: true });
  await build(path, layout);
  return path;
}

/** Runs one case in `dir` (removed afterwards): rsync and blit each in a copy of their own. */
async function runCase(c: Case, dir: string): Promise<Outcome> {
  try {
    const bl = await fresh(`${dir}/blit`, c.layout);
    const before = await snapshot(bl, false);
    const outcome: Omit<Outcome, "blit" | "blitAfter" | "blitAfterExact"> = { before };
    if (c.plainFails) {
      const plain = await fresh(`${dir}/plain`, c.layout);
      outcome.plain = await runRsync([...c.plainFails, c.src, c.dst], plain);
      outcome.plainAfter = await snapshot(plain, false);
    }
    if (c.expect !== "refusal") {
      const rs = await fresh(`${dir}/rsync`, c.layout);
      outcome.rsync = await runRsync([...c.oracle, c.src, c.dst], rs);
      outcome.rsyncAfter = await snapshot(rs, true);
      outcome.rsyncAfterExact = await snapshot(rs, false);
    }
    const blit = await runBlit([c.verb, c.src, c.dst, "--yes", "--no-history"], { cwd: bl });
    return {
      ...outcome,
      blit,
      blitAfter: await snapshot(bl, true),
      blitAfterExact: await snapshot(bl, false),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Lines only in `want` (prefixed `-`) and only in `got` (prefixed `+`). */
function diff(want: string[], got: string[]): string[] {
  const wanted = new Set(want);
  const gotten = new Set(got);
  return [
    ...want.filter((l) => !gotten.has(l)).map((l) => `- ${l}`),
    ...got.filter((l) => !wanted.has(l)).map((l) => `+ ${l}`),
  ];
}

function command(tool: string, args: string[]): string {
  return [tool, ...args].map((a) => /^[\w./=-]+$/.test(a) ? a : JSON.stringify(a)).join(" ");
}

/** rsync's exit codes for "some files were not transferred" (blit's exit 2). */
const RSYNC_PARTIAL = [23, 24];

/** The problems of one outcome, as lines; empty when blit behaved as expected. */
function judge(c: Case, o: Outcome): string[] {
  const problems: string[] = [];
  const noStack = () => {
    try {
      assertNoStack(o.blit.stderr);
    } catch {
      problems.push("blit printed a stack trace");
    }
  };
  const sameAs = (want: string[], got: string[], title: string) => {
    const changes = diff(want, got);
    if (changes.length > 0) problems.push(title, ...changes);
  };
  const refuses = () => {
    if (o.blit.code !== 1) problems.push(`blit exited ${o.blit.code}, expected 1 (a refusal)`);
    const lines = o.blit.stderr.split("\n").filter((l) => l.trim() !== "");
    if (lines.length !== 1) {
      problems.push(`blit printed ${lines.length} lines on stderr, expected exactly one`);
    }
    noStack();
    sameAs(o.before, o.blitAfterExact, "blit changed the working directory (- before, + after):");
  };
  if (c.plainFails && o.plain && o.plainAfter) {
    const plain = command("rsync", [...c.plainFails, c.src, c.dst]);
    if (o.plain.code === 0) problems.push(`${plain} succeeded; this case expects it to fail`);
    sameAs(o.before, o.plainAfter, `${plain} changed the working directory:`);
  }
  const rsync = o.rsync;
  if (c.expect === "refusal" || !rsync) refuses();
  else if (c.expect === "source-error") {
    if (rsync.code === 0) problems.push("rsync succeeded; this case expects it to fail");
    refuses();
  } else if (rsync.code === 0) {
    if (o.blit.code !== 0) problems.push(`blit exited ${o.blit.code}; rsync succeeded`);
    sameAs(o.rsyncAfter ?? [], o.blitAfter, "results differ (- after rsync, + after blit):");
  } else if (RSYNC_PARTIAL.includes(rsync.code) && o.blit.code === 2) {
    noStack();
    sameAs(o.rsyncAfter ?? [], o.blitAfter, "results differ (- after rsync, + after blit):");
  } else if (diff(o.before, o.rsyncAfterExact ?? []).length === 0) refuses();
  else {
    problems.push(
      `blit exited ${o.blit.code}; rsync transferred some files and exited ${rsync.code}, ` +
        "so blit should exit 2 with the same result",
    );
    sameAs(o.rsyncAfter ?? [], o.blitAfter, "results differ (- after rsync, + after blit):");
  }
  return problems;
}

/** One line about a finished command: how it was run, its exit, and what it said on stderr. */
function ran(line: string, result: RunResult): string {
  const said = result.stderr.trim().split("\n").filter((l) => l.trim() !== "").join(" | ");
  return `${line} -> exit ${result.code}${said === "" ? "" : `: ${said}`}`;
}

/** The failure message of a case: commands, outcomes, problems and the starting tree. */
function report(c: Case, o: Outcome, problems: string[]): string {
  const lines = [`case ${c.name}`];
  if (o.plain && c.plainFails) {
    lines.push(`  plain: ${ran(command("rsync", [...c.plainFails, c.src, c.dst]), o.plain)}`);
  }
  if (o.rsync) {
    lines.push(`  rsync: ${ran(command("rsync", [...c.oracle, c.src, c.dst]), o.rsync)}`);
  }
  const blit = command("blit", [c.verb, c.src, c.dst, "--yes", "--no-history"]);
  lines.push(`  blit:  ${ran(blit, o.blit)}`);
  lines.push(...problems.map((p) => (/^[-+] /.test(p) ? `      ${p}` : `  ${p}`)));
  lines.push("  working directory before the run:", ...o.before.map((l) => `      ${l}`));
  return lines.join("\n");
}

/**
 * Starts `jobs` on `width` workers and returns one promise per job, in order.
 * @returns The results, and a promise settled when every worker has stopped.
 */
function pooled<T>(
  jobs: (() => Promise<T>)[],
  width: number,
): { results: Promise<T>[]; done: Promise<void> } {
  const slots = jobs.map(() => Promise.withResolvers<T>());
  for (const slot of slots) slot.promise.catch(() => {}); // rejections are read by the steps
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < jobs.length; i = next++) {
      const job = jobs[i] as () => Promise<T>;
      const slot = slots[i] as PromiseWithResolvers<T>;
      try {
        slot.resolve(await job());
      } catch (error) {
        slot.reject(error);
      }
    }
  };
  const workers = Array.from({ length: width }, worker);
  return { results: slots.map((s) => s.promise), done: Promise.all(workers).then(() => {}) };
}

// ---------------------------------------------------------------------------------------------
// Destination situations

const SITUATIONS = [
  "missing",
  "empty-dir",
  "same-file",
  "same-dir",
  "same-link",
  "file",
  "link-dir",
  "link-file",
  "dangling",
] as const;
type Situation = typeof SITUATIONS[number];

const SITUATION_TEXT: Record<Situation, string> = {
  "missing": "DST missing",
  "empty-dir": "DST an empty dir",
  "same-file": "DST a dir holding a same-named file",
  "same-dir": "DST a dir holding a same-named dir with content",
  "same-link": "DST a dir holding a same-named link to a dir",
  "file": "DST a file",
  "link-dir": "DST a link to a dir",
  "link-file": "DST a link to a file",
  "dangling": "DST a dangling link",
};

/** Kinds of a same-named entry placed in a destination directory. */
type ConflictKind = "file" | "dir" | "link";

/** Fills destination directory `dirPath` with entries that meet the source (kind: of the named one). */
type Conflict = (layout: Layout, dirPath: string, kind: ConflictKind) => void;

/** Adds DST, at layout path `dst`, in the given situation. */
function addDestination(
  layout: Layout,
  dst: string,
  situation: Situation,
  conflict: Conflict,
): void {
  const parent = parentOf(dst);
  switch (situation) {
    case "missing":
      return;
    case "empty-dir":
      layout.set(dst, dir(OLD_T + 100));
      return;
    case "same-file":
    case "same-dir":
    case "same-link":
      layout.set(dst, dir(OLD_T + 101, 0o750));
      layout.set(`${dst}/keep.txt`, file("keep\n", OLD_T + 102));
      conflict(
        layout,
        dst,
        situation === "same-file" ? "file" : situation === "same-dir" ? "dir" : "link",
      );
      return;
    case "file":
      layout.set(dst, file("an old file\n", OLD_T + 103));
      return;
    case "link-dir":
      layout.set(dst, link(`${"../".repeat(depthOf(dst))}real`));
      return;
    case "link-file":
      layout.set(parent === "" ? "other.txt" : `${parent}/other.txt`, file("other\n", OLD_T + 104));
      layout.set(dst, link("other.txt"));
      return;
    case "dangling":
      layout.set(dst, link("nowhere"));
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Fixed cases

/** A SRC form of the fixed cases. */
interface SourceForm {
  /** SRC as typed. */
  typed: string;
  /** What it is, for the step name. */
  text: string;
  /** True for a directory given as `SRC/` (its contents meet DST's own entries). */
  contents: boolean;
  /** True for `SRC/` naming something that is not a directory. */
  notADir?: boolean;
}

const FORMS: SourceForm[] = [
  { typed: "src", text: "a dir", contents: false },
  { typed: "src/", text: "dir/", contents: true },
  { typed: "data.bin", text: "a file", contents: false },
  { typed: "data.bin/", text: "file/", contents: false, notADir: true },
  { typed: "lnk", text: "a link to a file", contents: false },
  { typed: "lnk/", text: "link-to-file/", contents: false, notADir: true },
  { typed: "lnkdir", text: "a link to a dir", contents: false },
  { typed: "lnkdir/", text: "link-to-dir/", contents: true },
];

/** The working directory of the fixed cases, before DST is added. */
function fixedBase(): Layout {
  const rng = new Rng(1);
  return new Map<string, Node>([
    ["src", dir(SRC_T + 50, 0o750)],
    ["src/a.txt", file("alpha\n", SRC_T + 1)],
    ["src/sub", dir(SRC_T + 40)],
    ["src/sub/b.bin", file(rng.bytes(4096), SRC_T + 2, 0o600)],
    ["src/sub/ln", link("../a.txt")],
    ["src/empty", dir(SRC_T + 30, 0o700)],
    ["data.bin", file(rng.bytes(13), SRC_T + 3, 0o640)],
    ["lnk", link("data.bin")],
    ["lnkdir", link("src")],
    ["real", dir(OLD_T + 5)],
    ["real/keep.txt", file("keep\n", OLD_T + 6)],
  ]);
}

/** Entries meeting the fixed source in a destination directory: at `sub` for SRC/, else DST/<name>. */
function fixedConflict(form: SourceForm): Conflict {
  return (layout, d, kind) => {
    const at = `${d}/${form.contents ? "sub" : baseName(form.typed)}`;
    if (kind === "file") layout.set(at, file("was a file\n", OLD_T + 110));
    else if (kind === "link") layout.set(at, link(toReal(at)));
    else {
      layout.set(at, dir(OLD_T + 111));
      if (form.contents) {
        layout.set(`${at}/b.bin`, file("older bytes\n", OLD_T + 112));
        layout.set(`${at}/ln`, file("a file where the source has a link\n", OLD_T + 113));
      } else {
        layout.set(`${at}/a.txt`, file("ALPHA\n", OLD_T + 112));
        layout.set(`${at}/sub`, file("a file where the source has a dir\n", OLD_T + 113));
      }
      layout.set(`${at}/old.txt`, file("only in the destination\n", OLD_T + 114));
    }
  };
}

function oracleFlags(verb: Verb): string[] {
  return verb === "copy" ? ["-a"] : ["-a", "--delete"];
}

/** Every SRC form × DST situation × DST slash; the verb alternates so each pair gets both. */
function fixedCases(): Case[] {
  const cases: Case[] = [];
  FORMS.forEach((form, f) => {
    SITUATIONS.forEach((situation, s) => {
      for (const slash of [false, true]) {
        const verb: Verb = (f + s + (slash ? 1 : 0)) % 2 === 0 ? "copy" : "mirror";
        const layout = fixedBase();
        addDestination(layout, "dst", situation, fixedConflict(form));
        const dst = slash ? "dst/" : "dst";
        const where = `${SITUATION_TEXT[situation]}${slash ? ", typed with a slash" : ""}`;
        const n = cases.length + 1;
        cases.push({
          name: `fixed ${n}: ${verb} ${form.typed} ${dst} (SRC ${form.text}; ${where})`,
          verb,
          src: form.typed,
          dst,
          layout,
          expect: form.notADir ? "source-error" : "compare",
          oracle: oracleFlags(verb),
        });
      }
    });
  });
  cases.push({
    name: `fixed ${cases.length + 1}: copy src/sub/ src (SRC inside DST is fine for copy)`,
    verb: "copy",
    src: "src/sub/",
    dst: "src",
    layout: fixedBase(),
    expect: "compare",
    oracle: oracleFlags("copy"),
  });
  // Inside the tree, a non-empty directory where the source has a file: rsync -a keeps it (exit
  // 23, "cannot delete non-empty directory") and copies the rest; with --delete it is replaced.
  for (const verb of ["copy", "mirror"] as const) {
    const layout = fixedBase();
    layout.set("dst", dir(OLD_T + 1));
    layout.set("dst/a.txt", dir(OLD_T + 2));
    layout.set("dst/a.txt/inner.txt", file("inner\n", OLD_T + 3));
    cases.push({
      name: `fixed ${cases.length + 1}: ${verb} src/ dst (dst/a.txt a non-empty dir)`,
      verb,
      src: "src/",
      dst: "dst",
      layout,
      expect: "compare",
      oracle: oracleFlags(verb),
    });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Random cases

const NAMES = ["a", "b.txt", "c.bin", "d", "e f", "g-1", "h.dat"];
const SIZES = [0, 1, 10, 100, 100, 4096, 4096, 70_000];
const FILE_MODES = [0o644, 0o644, 0o600, 0o640, 0o755];
const DIR_MODES = [0o755, 0o755, 0o750, 0o700];
const SRC_LINKS = ["a", "b.txt", "../c.bin", "d", "nowhere/x", "/nonexistent/abs", "."];

function randomFile(rng: Rng, t0: number): Node {
  return file(rng.bytes(rng.pick(SIZES)), t0 + rng.int(100_000), rng.pick(FILE_MODES));
}

/** Adds a random source tree below the directory `root` (already in the layout). */
function randomTree(rng: Rng, layout: Layout, root: string, depth: number): void {
  for (const name of rng.shuffled(NAMES).slice(0, 1 + rng.int(depth === 0 ? 4 : 3))) {
    const path = `${root}/${name}`;
    const r = rng.next();
    if (r < 0.5) layout.set(path, randomFile(rng, SRC_T));
    else if (r < 0.8 && depth < 3) {
      layout.set(path, dir(SRC_T + rng.int(100_000), rng.pick(DIR_MODES)));
      if (rng.chance(0.75)) randomTree(rng, layout, path, depth + 1);
    } else layout.set(path, link(rng.pick(SRC_LINKS)));
  }
  if (depth > 0) return;
  const dirs = [...layout].filter(([p, n]) => p.startsWith(`${root}/`) && n.kind === "dir");
  const empty = dirs.some(([p]) => ![...layout.keys()].some((k) => k.startsWith(`${p}/`)));
  if (!empty) layout.set(`${root}/empty`, dir(SRC_T + rng.int(100_000), rng.pick(DIR_MODES)));
}

/** An entry of another kind than `node`, for a destination path `path`. */
function otherKind(rng: Rng, layout: Layout, node: Node, path: string): void {
  const kinds = (["file", "dir", "symlink"] as const).filter((k) => k !== node.kind);
  const kind = rng.pick(kinds);
  if (kind === "file") layout.set(path, file(rng.bytes(rng.pick(SIZES)), OLD_T + rng.int(1000)));
  else if (kind === "symlink") layout.set(path, link(rng.chance(0.5) ? toReal(path) : "nowhere"));
  else {
    layout.set(path, dir(OLD_T + rng.int(1000)));
    if (rng.chance(0.6)) layout.set(`${path}/inner.txt`, file("inner\n", OLD_T + rng.int(1000)));
  }
}

/**
 * Adds below `at` an altered copy of `source` (entries relative to the source root): some entries
 * identical, some files changed (always with another mtime), some of another kind, some missing,
 * and a few extra entries.
 */
function alteredCopy(rng: Rng, layout: Layout, at: string, source: Layout): void {
  const gone: string[] = [];
  for (const [rel, node] of [...source].sort(byPath)) {
    if (gone.some((g) => rel.startsWith(`${g}/`))) continue;
    const path = `${at}/${rel}`;
    const r = rng.next();
    if (r < 0.15) gone.push(rel);
    else if (r < 0.3) {
      gone.push(rel);
      otherKind(rng, layout, node, path);
    } else if (node.kind === "file" && r < 0.6) {
      const data = rng.chance(0.4) ? node.data : rng.bytes(rng.pick(SIZES));
      layout.set(path, file(data, OLD_T + rng.int(100_000), rng.pick(FILE_MODES)));
    } else layout.set(path, node);
  }
  for (let i = rng.int(3); i > 0; i--) {
    const dirs = [
      at,
      ...[...layout].filter(([p, n]) => p.startsWith(`${at}/`) && n.kind === "dir")
        .map(([p]) => p),
    ];
    const path = `${rng.pick(dirs)}/extra-${i}`;
    if (rng.chance(0.7)) layout.set(path, file(rng.bytes(rng.int(50)), OLD_T + rng.int(1000)));
    else layout.set(path, dir(OLD_T + rng.int(1000)));
  }
}

const SHAPES = [
  "dir",
  "dir",
  "dir",
  "dir",
  "file",
  "link-file",
  "link-dir",
  "link-dangling",
] as const;
const SHAPE_TEXT: Record<typeof SHAPES[number], string> = {
  "dir": "a dir",
  "file": "a file",
  "link-file": "a link to a file",
  "link-dir": "a link to a dir",
  "link-dangling": "a dangling link",
};

function randomCase(seed: number, index: number): Case {
  const rng = new Rng(seed);
  const layout: Layout = new Map();
  layout.set("real", dir(OLD_T + rng.int(1000)));
  if (rng.chance(0.5)) layout.set("real/keep.txt", file("keep\n", OLD_T + rng.int(1000)));
  const typedIn = rng.pick(["", "", "./", "in/"]);
  const at = (name: string) => typedIn === "in/" ? `in/${name}` : name;
  const shape = rng.pick(SHAPES);
  let name = "ln";
  // The directory the transfer reads (for altered copies in the destination), relative entries.
  let tree: Layout | null = null;
  if (shape === "dir") {
    name = rng.pick(["src", "tree", "a b", "photos.d"]);
    layout.set(at(name), dir(SRC_T + rng.int(100_000), rng.pick(DIR_MODES)));
    randomTree(rng, layout, at(name), 0);
    tree = subtree(layout, at(name));
  } else if (shape === "file") {
    name = rng.pick(["f.txt", "blob"]);
    layout.set(at(name), randomFile(rng, SRC_T));
  } else if (shape === "link-file") {
    layout.set(at("target.txt"), randomFile(rng, SRC_T));
    layout.set(at(name), link("target.txt"));
  } else if (shape === "link-dir") {
    layout.set(at("linked"), dir(SRC_T + rng.int(100_000), rng.pick(DIR_MODES)));
    randomTree(rng, layout, at("linked"), 0);
    tree = subtree(layout, at("linked"));
    layout.set(at(name), link("linked"));
  } else layout.set(at(name), link("missing-target"));
  const srcSlash = rng.chance(tree ? 0.5 : 0.15);
  const contents = srcSlash && tree !== null;
  const src = `${typedIn}${name}${srcSlash ? "/" : ""}`;

  const dstPath = rng.pick(["dst", "dst", "out/dst", "out/new dst"]);
  if (dstPath.startsWith("out/")) {
    layout.set("out", dir(OLD_T + rng.int(1000)));
    if (rng.chance(0.5)) layout.set("out/unrelated.txt", file("u\n", OLD_T + rng.int(1000)));
  }
  // Weighted towards a same-named directory, where the two trees meet entry by entry.
  const situation = rng.pick(tree ? [...SITUATIONS, "same-dir", "same-dir"] as const : SITUATIONS);
  const dstSlash = rng.chance(0.35);
  const dst = `${!dstPath.includes("/") && rng.chance(0.25) ? "./" : ""}${dstPath}${
    dstSlash ? "/" : ""
  }`;
  const conflict: Conflict = (l, d, kind) => {
    let at = `${d}/${name}`;
    if (contents && tree) {
      alteredCopy(rng, l, d, tree);
      const top = [...tree.keys()].filter((k) => !k.includes("/"));
      at = `${d}/${top.length > 0 ? rng.pick(top) : "x"}`;
      removeTree(l, at);
    }
    if (kind === "file") l.set(at, file(rng.bytes(rng.pick(SIZES)), OLD_T + rng.int(1000)));
    else if (kind === "link") l.set(at, link(rng.chance(0.6) ? toReal(at) : "nowhere"));
    else if (tree && !contents) {
      l.set(at, dir(OLD_T + rng.int(1000)));
      alteredCopy(rng, l, at, tree);
    } else {
      l.set(at, dir(OLD_T + rng.int(1000)));
      l.set(`${at}/inner.txt`, file("inner\n", OLD_T + rng.int(1000)));
    }
  };
  addDestination(layout, dstPath, situation, conflict);
  if (situation === "link-dir" && rng.chance(0.6)) {
    conflict(layout, "real", rng.pick(["file", "dir", "link"] as const));
  }
  const verb: Verb = seed % 2 === 0 ? "copy" : "mirror"; // even seeds copy, odd seeds mirror
  const what = `SRC ${SHAPE_TEXT[shape]}${srcSlash ? " typed with a slash" : ""}; ${
    SITUATION_TEXT[situation]
  }${dstSlash ? ", typed with a slash" : ""}`;
  return {
    name: `random ${index + 1} (seed ${seed}): ${command(verb, [src, dst])} (${what})`,
    verb,
    src,
    dst,
    layout,
    expect: srcSlash && !tree ? "source-error" : "compare",
    oracle: oracleFlags(verb),
  };
}

// ---------------------------------------------------------------------------------------------
// Deliberate differences

function differenceCases(): Case[] {
  const cases: Case[] = [];
  const mkpath: [Verb, string, string][] = [
    ["copy", "src", "a/b/c"],
    ["mirror", "src/", "a/b/c"],
    ["copy", "data.bin", "a/b/c"],
    ["copy", "data.bin", "a/b/c/"],
    ["mirror", "lnk", "a/b/c/"],
  ];
  for (const [verb, src, dst] of mkpath) {
    cases.push({
      name: `missing parents: ${verb} ${src} ${dst} (a/b missing) is rsync --mkpath`,
      verb,
      src,
      dst,
      layout: fixedBase(),
      expect: "compare",
      oracle: [...oracleFlags(verb), "--mkpath"],
      plainFails: oracleFlags(verb),
    });
  }
  const refusals: [Verb, string, string, string][] = [
    ["copy", "src/", "src", "SRC equal to DST"],
    ["copy", "src", ".", "SRC equal to DST (./src)"],
    ["mirror", "lnkdir/", "src", "SRC equal to DST through a link"],
    ["copy", "src", "src", "DST (src/src) inside SRC"],
    ["mirror", "src/", "src/sub/deeper", "DST inside SRC"],
    ["copy", "src/", "lnsub", "DST inside SRC through a link"],
    ["mirror", "src/sub/", "src", "mirror with SRC inside DST"],
    ["mirror", "src/sub/", ".", "mirror with SRC inside DST (the working directory)"],
  ];
  for (const [verb, src, dst, why] of refusals) {
    const layout = fixedBase();
    layout.set("lnsub", link("src/sub"));
    cases.push({
      name: `refused: ${verb} ${src} ${dst} (${why})`,
      verb,
      src,
      dst,
      layout,
      expect: "refusal",
      oracle: [],
    });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// The test

Deno.test({ name: "rsync differential", ignore: SKIP_REASON !== null }, async (t) => {
  const started = performance.now();
  const seed = baseSeed();
  const groups: [string, Case[]][] = [
    ["fixed cases", fixedCases()],
    [
      `random cases (seeds ${seed}…${seed + RANDOM_CASES - 1})`,
      Array.from({ length: RANDOM_CASES }, (_, i) => randomCase(seed + i, i)),
    ],
    ["deliberate differences of blit", differenceCases()],
  ];
  const all = groups.flatMap(([, cases]) => cases);
  const base = await Deno.makeTempDir({ prefix: "blit-rsync-diff-" });
  const { results, done } = pooled(all.map((c, i) => () => runCase(c, `${base}/${i}`)), PARALLEL);
  const failed: string[] = [];
  try {
    let next = 0;
    for (const [title, cases] of groups) {
      await t.step(title, async (group) => {
        for (const c of cases) {
          const result = results[next++] as Promise<Outcome>;
          const passed = await group.step({
            name: c.name,
            sanitizeOps: false,
            sanitizeResources: false,
            fn: async () => {
              const outcome = await result;
              const problems = judge(c, outcome);
              if (problems.length > 0) throw new Error(report(c, outcome, problems));
            },
          });
          if (!passed) failed.push(c.name);
        }
      });
    }
  } finally {
    await done;
    await Deno.remove(base, { recursive: true }).catch(() => {});
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `rsync differential: ${all.length} cases, ${failed.length} differ from rsync, ${seconds} s`,
  );
});
