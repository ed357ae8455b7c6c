/**
 * Harness of `tests/conformance_test.ts`: declared trees (what to build and what to expect),
 * building them on disk, reading them back, comparing them, and running the real `blit` CLI.
 *
 * A declared tree maps relative paths to entries. Every file, directory and FIFO has an explicit
 * mode and mtime: given ones, or defaults derived from the entry's path (distinct per path, with
 * a millisecond part), so a copy that loses or mixes up times is noticed. Two markers stand for
 * values a case does not prescribe:
 *
 * - {@linkcode FRESH} (mtimes): set by the run itself, e.g. a directory that gained a child; it
 *   must lie within the run's time window and is not compared between routes.
 * - {@linkcode AGREE} (modes and mtimes): not prescribed by the behaviour (e.g. the mode of a
 *   destination directory blit had to create as a container); every route must produce the same
 *   value.
 *
 * @module
 */

import { blitTaskFlags, decodeOutput, REPO, type RunResult, testConfigHome } from "./_helpers.ts";

/** A value every route must agree on without the case prescribing it. */
export const AGREE = "agree";
/** An mtime the run itself sets (now); checked against the run's time window. */
export const FRESH = "fresh";

/** Kinds of entries the harness builds and reads back. */
export type Kind = "file" | "dir" | "symlink" | "fifo";

/** The expected state of one entry. */
export interface Want {
  /** Kind of the entry. */
  kind: Kind;
  /** Contents of a file. */
  bytes?: Uint8Array;
  /** Target of a symlink. */
  target?: string;
  /** Permission bits (ignored for symlinks). */
  mode: number | typeof AGREE;
  /** Modification time in ms (ignored for symlinks). */
  mtime: number | typeof FRESH | typeof AGREE;
}

/** A declared tree: relative path → expected entry. */
export type Tree = Record<string, Want>;

/** Attributes a declared entry may give. */
export interface Attrs {
  /** Permission bits; defaults to 0o644 for files and FIFOs, 0o755 for directories. */
  mode?: number | typeof AGREE;
  /** Modification time in ms; defaults to a time derived from the path. */
  mtime?: number | typeof FRESH | typeof AGREE;
}

/** A declared entry before defaults are filled in. */
export type Node =
  | { kind: "file"; bytes: Uint8Array; attrs: Attrs }
  | { kind: "dir"; attrs: Attrs }
  | { kind: "symlink"; target: string }
  | { kind: "fifo"; attrs: Attrs };

/** 2022-05-06T07:08:09.321Z: the base of every default mtime. */
export const T0: number = Date.UTC(2022, 4, 6, 7, 8, 9, 321);

const encoder = new TextEncoder();

/**
 * A file entry.
 * @param content Text (UTF-8) or bytes.
 * @param attrs Mode and mtime.
 * @returns The declared entry.
 */
export function file(content: string | Uint8Array, attrs: Attrs = {}): Node {
  return {
    kind: "file",
    bytes: typeof content === "string" ? encoder.encode(content) : content,
    attrs,
  };
}

/**
 * A directory entry.
 * @param attrs Mode and mtime.
 * @returns The declared entry.
 */
export function dir(attrs: Attrs = {}): Node {
  return { kind: "dir", attrs };
}

/**
 * A symlink entry (its own mode and mtime are never compared).
 * @param target The link's target text.
 * @returns The declared entry.
 */
export function link(target: string): Node {
  return { kind: "symlink", target };
}

/**
 * A FIFO (a special file blit cannot copy).
 * @param attrs Mode and mtime.
 * @returns The declared entry.
 */
export function fifo(attrs: Attrs = {}): Node {
  return { kind: "fifo", attrs };
}

/**
 * The default mtime of a path: T0 plus a path-derived number of seconds and milliseconds.
 * @param path Relative path.
 * @returns Milliseconds since the epoch.
 */
export function defaultMtime(path: string): number {
  let h = 2166136261;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 16777619) >>> 0;
  return T0 + (h % 1_000_000) * 1000 + (h % 997) + 1;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

function sorted(t: Tree): Tree {
  const out: Tree = {};
  for (const key of Object.keys(t).sort()) out[key] = t[key] as Want;
  return out;
}

/**
 * Fills in defaults and adds missing parent directories (with default attributes).
 * @param spec Path → declared entry.
 * @returns The tree.
 */
export function tree(spec: Record<string, Node>): Tree {
  const out: Tree = {};
  for (const [path, node] of Object.entries(spec)) {
    for (let p = parentOf(path); p !== ""; p = parentOf(p)) {
      if (!(p in spec) && !(p in out)) {
        out[p] = { kind: "dir", mode: 0o755, mtime: defaultMtime(p) };
      }
    }
    if (node.kind === "symlink") {
      out[path] = { kind: "symlink", target: node.target, mode: 0o777, mtime: 0 };
      continue;
    }
    const mode = node.attrs.mode ?? (node.kind === "dir" ? 0o755 : 0o644);
    const mtime = node.attrs.mtime ?? defaultMtime(path);
    out[path] = node.kind === "file"
      ? { kind: "file", bytes: node.bytes, mode, mtime }
      : { kind: node.kind, mode, mtime };
  }
  return sorted(out);
}

/**
 * The entries at and under `from`, moved to `to` (`from` = `""`: the whole tree). When `to` is
 * `""`, the entry at `from` itself is dropped (its contents land at the top).
 * @param t The tree.
 * @param from Path to take.
 * @param to Where to put it.
 * @returns The moved entries.
 */
export function sub(t: Tree, from: string, to: string): Tree {
  const out: Tree = {};
  for (const [path, want] of Object.entries(t)) {
    let rest: string | null = null;
    if (from === "") rest = path;
    else if (path === from) rest = "";
    else if (path.startsWith(`${from}/`)) rest = path.slice(from.length + 1);
    if (rest === null) continue;
    const moved = rest === "" ? to : to === "" ? rest : `${to}/${rest}`;
    if (moved !== "") out[moved] = want;
  }
  return sorted(out);
}

/**
 * Merges trees; later entries replace earlier ones at the same path.
 * @param trees The trees.
 * @returns The merged tree.
 */
export function merge(...trees: Tree[]): Tree {
  return sorted(Object.assign({}, ...trees));
}

/**
 * The tree without the given paths and everything under them.
 * @param t The tree.
 * @param paths Paths to drop.
 * @returns The remaining entries.
 */
export function without(t: Tree, ...paths: string[]): Tree {
  const out: Tree = {};
  for (const [path, want] of Object.entries(t)) {
    if (paths.some((p) => path === p || path.startsWith(`${p}/`))) continue;
    out[path] = want;
  }
  return out;
}

/**
 * The tree with some attributes of one entry replaced.
 * @param t The tree.
 * @param path The entry (must exist).
 * @param change New mode and/or mtime.
 * @returns The changed tree.
 */
export function patch(t: Tree, path: string, change: Attrs): Tree {
  const want = t[path];
  if (!want) throw new Error(`patch: no entry ${path}`);
  return { ...t, [path]: { ...want, ...change } };
}

/**
 * The entries at exactly the given paths.
 * @param t The tree.
 * @param paths Paths to keep (each must exist).
 * @returns Those entries.
 */
export function pick(t: Tree, ...paths: string[]): Tree {
  const out: Tree = {};
  for (const p of paths) {
    const want = t[p];
    if (!want) throw new Error(`pick: no entry ${p}`);
    out[p] = want;
  }
  return out;
}

/**
 * The tree with entries added or replaced at exactly the declared paths (no implicit parents,
 * unlike {@linkcode tree}, so existing parents keep their attributes).
 * @param t The tree.
 * @param spec Path → declared entry.
 * @returns The changed tree.
 */
export function put(t: Tree, spec: Record<string, Node>): Tree {
  return merge(t, pick(tree(spec), ...Object.keys(spec)));
}

/**
 * The paths of the symlinks in a tree.
 * @param t The tree.
 * @returns Their paths, sorted.
 */
export function linksOf(t: Tree): string[] {
  return Object.keys(t).filter((p) => t[p]?.kind === "symlink").sort();
}

/**
 * The total size of some files of a tree.
 * @param t The tree.
 * @param paths File paths.
 * @returns Their summed size in bytes.
 */
export function sizeOf(t: Tree, paths: readonly string[]): number {
  let total = 0;
  for (const p of paths) {
    const want = t[p];
    if (want?.kind !== "file" || !want.bytes) throw new Error(`sizeOf: no file ${p}`);
    total += want.bytes.length;
  }
  return total;
}

/**
 * Runs a command and throws with its output when it fails.
 * @param cmd Program.
 * @param args Arguments.
 */
export async function sh(cmd: string, args: string[]): Promise<void> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr).trim()}`);
  }
}

/**
 * Builds a declared tree under `base` (created if missing): entries, then modes, then mtimes,
 * deepest first, so directory times survive the creation of their children. Markers
 * ({@linkcode AGREE}, {@linkcode FRESH}) leave the value the filesystem gives.
 * @param base Directory to fill.
 * @param t The tree.
 */
export async function buildTree(base: string, t: Tree): Promise<void> {
  await Deno.mkdir(base, { recursive: true });
  const paths = Object.keys(t).sort();
  for (const path of paths) {
    const want = t[path] as Want;
    const abs = `${base}/${path}`;
    await Deno.mkdir(parentOf(abs), { recursive: true });
    if (want.kind === "dir") await Deno.mkdir(abs, { recursive: true });
    else if (want.kind === "file") await Deno.writeFile(abs, want.bytes ?? new Uint8Array());
    else if (want.kind === "symlink") await Deno.symlink(want.target ?? "", abs);
    else await sh("mkfifo", [abs]);
  }
  for (const path of paths) {
    const want = t[path] as Want;
    if (want.kind !== "symlink" && typeof want.mode === "number") {
      await Deno.chmod(`${base}/${path}`, want.mode);
    }
  }
  const deepestFirst = [...paths].sort((a, b) => b.split("/").length - a.split("/").length);
  for (const path of deepestFirst) {
    const want = t[path] as Want;
    if (want.kind !== "symlink" && typeof want.mtime === "number") {
      const date = new Date(want.mtime);
      await Deno.utime(`${base}/${path}`, date, date);
    }
  }
}

/** One entry as found on disk. */
export interface Found {
  /** Kind (`other` for sockets and devices). */
  kind: Kind | "other";
  /** Contents of a file. */
  bytes?: Uint8Array;
  /** Target of a symlink. */
  target?: string;
  /** Permission bits. */
  mode: number;
  /** Modification time in ms. */
  mtime: number;
}

/** A tree as found on disk: relative path → entry. */
export type FoundTree = Record<string, Found>;

/**
 * Reads a tree back without following links (a missing `base` reads as empty).
 * @param base Directory to read.
 * @returns Its entries, sorted by path.
 */
export async function readFound(base: string): Promise<FoundTree> {
  const out: FoundTree = {};
  const walk = async (abs: string, rel: string): Promise<void> => {
    const names: string[] = [];
    for await (const e of Deno.readDir(abs)) names.push(e.name);
    names.sort();
    for (const name of names) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const full = `${abs}/${name}`;
      const info = await Deno.lstat(full);
      const base = { mode: (info.mode ?? 0) & 0o7777, mtime: info.mtime?.getTime() ?? 0 };
      if (info.isSymlink) {
        out[path] = { kind: "symlink", target: await Deno.readLink(full), ...base };
      } else if (info.isDirectory) {
        out[path] = { kind: "dir", ...base };
        await walk(full, path);
      } else if (info.isFile) {
        out[path] = { kind: "file", bytes: await Deno.readFile(full), ...base };
      } else out[path] = { kind: info.isFifo ? "fifo" : "other", ...base };
    }
  };
  try {
    await walk(base, "");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out;
}

/**
 * The inode change time of every entry under `base` (itself as `""`), without following links,
 * to the nanosecond as `find -printf %C@` prints it (Deno's `ctime` keeps whole seconds only):
 * what a run that writes nothing, not even an attribute, leaves as it was.
 * Requires `--allow-run` (GNU find).
 * @param base Directory to read.
 * @returns Relative path → ctime as printed (seconds with a fraction).
 */
export async function readChangeTimes(base: string): Promise<Record<string, string>> {
  const { code, stdout, stderr } = decodeOutput(
    await new Deno.Command("find", {
      args: [base, "-printf", "%P\\t%C@\\0"],
      stdout: "piped",
      stderr: "piped",
    }).output(),
  );
  if (code !== 0) throw new Error(`Cannot read change times: ${stderr}`);
  const out: Record<string, string> = {};
  for (const record of stdout.split("\0")) {
    const tab = record.lastIndexOf("\t");
    if (tab >= 0) out[record.slice(0, tab)] = record.slice(tab + 1);
  }
  return out;
}

/**
 * The paths whose change time differs between two {@linkcode readChangeTimes} readings (or that
 * appeared or went), sorted.
 * @param before The first reading.
 * @param after The second.
 * @returns The changed paths (`.` for the base itself).
 */
export function changedEntries(
  before: Record<string, string>,
  after: Record<string, string>,
): string[] {
  const paths = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...paths].filter((p) => before[p] !== after[p]).map((p) => p || ".").sort();
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function preview(bytes: Uint8Array | undefined): string {
  if (!bytes) return "(none)";
  const head = bytes.subarray(0, 24);
  const more = bytes.length > 24 ? "…" : "";
  const text = new TextDecoder("utf-8", { fatal: false }).decode(head);
  if (/^[\t\n\r\x20-\x7e]*$/.test(text)) {
    return `${bytes.length} bytes ${JSON.stringify(text)}${more}`;
  }
  const hex = Array.from(head.subarray(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${bytes.length} bytes 0x${hex}${bytes.length > 12 ? "…" : ""}`;
}

function octal(mode: number): string {
  return `0o${mode.toString(8).padStart(3, "0")}`;
}

function when(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

function describeWant(w: Want): string {
  if (w.kind === "symlink") return `symlink -> ${w.target}`;
  const mode = typeof w.mode === "number" ? octal(w.mode) : w.mode;
  const mtime = typeof w.mtime === "number" ? when(w.mtime) : w.mtime;
  return `${w.kind}${w.kind === "file" ? ` ${preview(w.bytes)}` : ""} ${mode} ${mtime}`;
}

function describeFound(f: Found): string {
  if (f.kind === "symlink") return `symlink -> ${f.target}`;
  return `${f.kind}${f.kind === "file" ? ` ${preview(f.bytes)}` : ""} ${octal(f.mode)} ${
    when(f.mtime)
  }`;
}

/** The time window of a run, for {@linkcode FRESH} mtimes. */
export interface Window {
  /** Before the run started (ms). */
  start: number;
  /** After it ended (ms). */
  end: number;
}

/**
 * Compares a tree found on disk with the expected one.
 * @param want Expected entries.
 * @param found Entries on disk.
 * @param window The run's time window, for fresh mtimes.
 * @returns One line per difference (empty when equal).
 */
export function diffTree(want: Tree, found: FoundTree, window: Window): string[] {
  const out: string[] = [];
  const paths = [...new Set([...Object.keys(want), ...Object.keys(found)])].sort();
  for (const path of paths) {
    const w = want[path];
    const f = found[path];
    if (!w && f) {
      out.push(`unexpected ${path}: ${describeFound(f)}`);
      continue;
    }
    if (w && !f) {
      out.push(`missing ${path}: want ${describeWant(w)}`);
      continue;
    }
    if (!w || !f) continue;
    if (w.kind !== f.kind) {
      out.push(`${path}: is a ${describeFound(f)}, want a ${describeWant(w)}`);
      continue;
    }
    if (w.kind === "symlink") {
      if (w.target !== f.target) out.push(`${path}: link -> ${f.target}, want -> ${w.target}`);
      continue;
    }
    if (w.kind === "file" && !sameBytes(w.bytes, f.bytes)) {
      out.push(`${path}: content ${preview(f.bytes)}, want ${preview(w.bytes)}`);
    }
    if (typeof w.mode === "number" && w.mode !== f.mode) {
      out.push(`${path}: mode ${octal(f.mode)}, want ${octal(w.mode)}`);
    }
    if (typeof w.mtime === "number" && w.mtime !== f.mtime) {
      out.push(`${path}: mtime ${when(f.mtime)}, want ${when(w.mtime)} (${f.mtime - w.mtime} ms)`);
    } else if (
      w.mtime === FRESH && (f.mtime < window.start - 2000 || f.mtime > window.end + 2000)
    ) {
      out.push(
        `${path}: mtime ${when(f.mtime)} was not set by this run (${when(window.start)} to ${
          when(window.end)
        })`,
      );
    }
  }
  return out;
}

/**
 * Compares the trees two routes produced, skipping mtimes the expectation marks {@linkcode FRESH}
 * (they are the times of different runs).
 * @param a One route's tree.
 * @param b Another route's tree.
 * @param want The expectation both followed (for the fresh marks).
 * @returns One line per difference.
 */
export function diffFound(a: FoundTree, b: FoundTree, want: Tree): string[] {
  const out: string[] = [];
  const paths = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const path of paths) {
    const x = a[path];
    const y = b[path];
    if (!x || !y) {
      out.push(`${path}: ${x ? describeFound(x) : "absent"} vs ${y ? describeFound(y) : "absent"}`);
      continue;
    }
    const fresh = want[path]?.mtime === FRESH;
    const same = x.kind === y.kind && x.target === y.target && sameBytes(x.bytes, y.bytes) &&
      (x.kind === "symlink" || (x.mode === y.mode && (fresh || x.mtime === y.mtime)));
    if (!same) out.push(`${path}: ${describeFound(x)} vs ${describeFound(y)}`);
  }
  return out;
}

/** Longest time one CLI run may take before it is stopped (a hang is reported, not waited on). */
export const RUN_DEADLINE_MS = 60_000;

/**
 * Runs the real `blit` CLI exactly as `runBlit` in `_helpers.ts` does (the `blit` task's
 * permission flags, a private `XDG_CONFIG_HOME`, no stdin, `NO_COLOR`), plus a deadline: a run
 * still going after {@linkcode RUN_DEADLINE_MS} is terminated and reported (a FIFO opened for
 * reading would otherwise block forever).
 * @param args CLI arguments.
 * @param cwd Working directory.
 * @returns Exit code and output; `timedOut` when the deadline stopped it.
 */
export async function runCli(
  args: string[],
  cwd: string,
): Promise<RunResult & { timedOut: boolean }> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), RUN_DEADLINE_MS);
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", ...blitTaskFlags(), `${REPO}/cli/main.ts`, ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_CONFIG_HOME: testConfigHome() },
    signal: deadline.signal,
  });
  try {
    const { code, stdout, stderr } = await command.output();
    const decoder = new TextDecoder();
    return {
      code,
      stdout: decoder.decode(stdout),
      stderr: decoder.decode(stderr),
      timedOut: deadline.signal.aborted,
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks that `chattr +i` works here: an immutable file cannot be replaced even by root.
 * @param dir A scratch directory on the filesystem the tests use.
 * @returns `null` when it works, else why not.
 */
export async function chattrProblem(dir: string): Promise<string | null> {
  const probe = `${dir}/chattr-probe`;
  try {
    await Deno.writeTextFile(probe, "x");
    await sh("chattr", ["+i", probe]);
  } catch (error) {
    return `chattr +i is not available: ${error instanceof Error ? error.message : error}`;
  }
  try {
    await Deno.writeTextFile(probe, "y");
    return "chattr +i did not stop root from writing a file";
  } catch {
    return null;
  } finally {
    await sh("chattr", ["-i", probe]).catch(() => {});
    await Deno.remove(probe).catch(() => {});
  }
}
