/**
 * Deterministic benchmark workloads (see ../../shared/README.md):
 * (a) one big file; (b) many 4 KiB files in many dirs; (c) mixed sizes, log-uniform;
 * (d) a 1% modified / 1% added / 1% deleted mutation of (c), mirrored onto a synced copy of (c);
 * (e) a no-op mirror of (b).
 *
 * The same parameters and seed always give the same paths, sizes and bytes. Generated trees live
 * under `<dir>/<preset>/` and are reused while their stamp file matches the parameters and the
 * tree still matches the planned listing.
 *
 * @module
 */

import { Prng } from "./prng.ts";
import { diffManifests, listTree, type Manifest } from "./tree.ts";
import { cloneTree, removeTree } from "./system.ts";

/** Bumped whenever the generator's output changes, so old trees are regenerated. */
export const GENERATOR_VERSION = 1;

/** Workload identifiers, in the order of the reference table. */
export type WorkloadId = "a" | "b" | "c" | "d" | "e";

/** All workload identifiers. */
export const WORKLOAD_IDS: readonly WorkloadId[] = ["a", "b", "c", "d", "e"];

/** Named parameter sets. */
export type PresetName = "full" | "quick";

/** Every knob of the workload generator. */
export interface WorkloadParams {
  /** Master seed; each tree and file derives its own seed from it. */
  seed: number;
  /** (a): size of the single file. */
  bigFileBytes: number;
  /** (b)/(e): number of small files. */
  smallFiles: number;
  /** (b)/(e): size of each small file. */
  smallFileBytes: number;
  /** (b)/(e): number of directories the small files are spread over. */
  smallDirs: number;
  /** (c)/(d): number of files. */
  mixedFiles: number;
  /** (c)/(d): smallest file size. */
  mixedMinBytes: number;
  /** (c)/(d): largest file size. */
  mixedMaxBytes: number;
  /** (c)/(d): number of directories (two levels deep). */
  mixedDirs: number;
  /** (d): percentage of files modified, and again added, and again deleted. */
  mutationPercent: number;
}

const KIB = 1024;
const MIB = 1024 * KIB;

/** The full workloads of the reference table and a scaled-down `--quick` set. */
export const PRESETS: Readonly<Record<PresetName, Readonly<WorkloadParams>>> = {
  full: {
    seed: 0x0b117,
    bigFileBytes: 1024 * MIB,
    smallFiles: 20_000,
    smallFileBytes: 4 * KIB,
    smallDirs: 200,
    mixedFiles: 2_000,
    mixedMinBytes: 1 * KIB,
    mixedMaxBytes: 8 * MIB,
    mixedDirs: 40,
    mutationPercent: 1,
  },
  quick: {
    seed: 0x0b117,
    bigFileBytes: 128 * MIB,
    smallFiles: 5_000,
    smallFileBytes: 4 * KIB,
    smallDirs: 50,
    mixedFiles: 300,
    mixedMinBytes: 1 * KIB,
    mixedMaxBytes: 8 * MIB,
    mixedDirs: 12,
    mutationPercent: 1,
  },
};

/** One planned file. */
export interface FileSpec {
  /** Path relative to the tree root, POSIX separators. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Seed of its content. */
  seed: number;
}

/** The (d) mutation of the mixed tree. */
export interface MutationPlan {
  /** Files rewritten with new content (half keep their size). */
  modify: FileSpec[];
  /** Files deleted. */
  remove: string[];
  /** Files added. */
  add: FileSpec[];
}

/** A prepared workload, ready to time. */
export interface Workload {
  /** Identifier. */
  id: WorkloadId;
  /** One-line description with the actual sizes. */
  title: string;
  /** `copy` into an empty destination, or `mirror` onto a copy of `base`. */
  kind: "copy" | "mirror";
  /** Tree to copy from. */
  source: string;
  /** For mirrors: tree the destination is cloned from before each run. */
  base?: string;
  /** Planned listing of `source`: what the destination must hold afterwards. */
  expected: Manifest;
}

/** Options for {@linkcode prepareWorkloads}. */
export interface PrepareOptions {
  /** Progress messages. */
  log?: (message: string) => void;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * A seed derived from the master seed for one purpose (`salt`).
 * @param seed The master seed.
 * @param salt What the seed is for.
 * @returns The derived seed.
 */
export function deriveSeed(seed: number, salt: number): number {
  return new Prng((seed ^ Math.imul(salt, 0x9e3779b1)) >>> 0).nextU32();
}

/**
 * Plans workload (a): one file.
 * @param p Parameters.
 * @returns The file list.
 */
export function planBig(p: WorkloadParams): FileSpec[] {
  return [{ path: "big.bin", size: p.bigFileBytes, seed: deriveSeed(p.seed, 1) }];
}

/**
 * Plans workload (b): `smallFiles` files of `smallFileBytes`, round-robin over `smallDirs` dirs.
 * @param p Parameters.
 * @returns The file list, sorted by path.
 */
export function planSmall(p: WorkloadParams): FileSpec[] {
  const rng = new Prng(deriveSeed(p.seed, 2));
  const files: FileSpec[] = [];
  for (let i = 0; i < p.smallFiles; i++) {
    const dir = `d${pad(i % p.smallDirs, 3)}`;
    files.push({ path: `${dir}/f${pad(i, 5)}.dat`, size: p.smallFileBytes, seed: rng.nextU32() });
  }
  return files.sort(byPath);
}

function mixedDirs(p: WorkloadParams): string[] {
  const dirs: string[] = [];
  for (let j = 0; j < p.mixedDirs; j++) {
    const top = `m${pad(j - (j % 4), 2)}`;
    dirs.push(j % 4 === 0 ? top : `${top}/s${j % 4}`);
  }
  return dirs;
}

/**
 * Plans workload (c): `mixedFiles` files, sizes log-uniform in [mixedMinBytes, mixedMaxBytes],
 * spread over `mixedDirs` directories two levels deep.
 * @param p Parameters.
 * @returns The file list, sorted by path.
 */
export function planMixed(p: WorkloadParams): FileSpec[] {
  const rng = new Prng(deriveSeed(p.seed, 3));
  const dirs = mixedDirs(p);
  const files: FileSpec[] = [];
  for (let i = 0; i < p.mixedFiles; i++) {
    const dir = dirs[rng.int(dirs.length)] ?? "m00";
    const size = rng.logUniform(p.mixedMinBytes, p.mixedMaxBytes);
    files.push({ path: `${dir}/f${pad(i, 4)}.bin`, size, seed: rng.nextU32() });
  }
  return files.sort(byPath);
}

/**
 * Plans the (d) mutation of a mixed tree: `mutationPercent`% of the files modified (half keep
 * their size, all get new content), as many deleted, as many added.
 * @param files The planned mixed tree ({@linkcode planMixed}).
 * @param p Parameters.
 * @returns What to modify, remove and add.
 */
export function planMutation(files: FileSpec[], p: WorkloadParams): MutationPlan {
  const rng = new Prng(deriveSeed(p.seed, 4));
  const count = Math.max(1, Math.round((files.length * p.mutationPercent) / 100));
  const order = rng.permutation(files.length);
  const modify: FileSpec[] = [];
  const remove: string[] = [];
  for (let k = 0; k < Math.min(2 * count, order.length); k++) {
    const file = files[order[k] ?? 0];
    if (file === undefined) continue;
    if (k < count) {
      const size = k % 2 === 0 ? file.size : rng.logUniform(p.mixedMinBytes, p.mixedMaxBytes);
      modify.push({ path: file.path, size, seed: rng.nextU32() });
    } else {
      remove.push(file.path);
    }
  }
  const dirs = mixedDirs(p);
  const add: FileSpec[] = [];
  for (let i = 0; i < count; i++) {
    const dir = dirs[rng.int(dirs.length)] ?? "m00";
    const size = rng.logUniform(p.mixedMinBytes, p.mixedMaxBytes);
    add.push({ path: `${dir}/new${pad(i, 4)}.bin`, size, seed: rng.nextU32() });
  }
  return { modify: modify.sort(byPath), remove: remove.sort(), add: add.sort(byPath) };
}

/**
 * Applies a mutation to a planned listing.
 * @param files The planned mixed tree.
 * @param mutation Its mutation.
 * @returns The listing of the mutated tree.
 */
export function mutatedManifest(files: FileSpec[], mutation: MutationPlan): Manifest {
  const out = manifestOf(files);
  for (const f of mutation.modify) out.set(f.path, f.size);
  for (const path of mutation.remove) out.delete(path);
  for (const f of mutation.add) out.set(f.path, f.size);
  return new Map([...out].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)));
}

/**
 * Turns a file list into a manifest.
 * @param files Planned files.
 * @returns Path → size.
 */
export function manifestOf(files: FileSpec[]): Manifest {
  return new Map(files.map((f) => [f.path, f.size]));
}

function byPath(x: FileSpec, y: FileSpec): number {
  return x.path < y.path ? -1 : x.path > y.path ? 1 : 0;
}

/**
 * Produces file bytes from a fixed 8 MiB random pool: each 1 MiB chunk is a pool slice at a
 * seeded offset, and every 64 KiB block is stamped with the file seed and block number so that no
 * two blocks of the workload are identical. Incompressible, and fast to generate.
 */
export class ContentSource {
  #pool: Uint8Array;

  /**
   * Builds the pool.
   * @param seed Seed of the pool.
   */
  constructor(seed: number) {
    this.#pool = new Uint8Array(8 * MIB);
    new Prng(seed).fill(this.#pool);
  }

  /**
   * Fills `buf` with the bytes of a file at `offset` (offsets must be multiples of 1 MiB).
   * @param buf Destination, at most 1 MiB.
   * @param seed File seed.
   * @param offset Position of `buf` in the file.
   */
  chunk(buf: Uint8Array, seed: number, offset: number): void {
    const rng = new Prng((seed ^ Math.imul(offset / MIB + 1, 0x85ebca6b)) >>> 0);
    const start = rng.int(this.#pool.byteLength - buf.byteLength + 1);
    buf.set(this.#pool.subarray(start, start + buf.byteLength));
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let at = 0; at + 8 <= buf.byteLength; at += 64 * KIB) {
      view.setUint32(at, seed, true);
      view.setUint32(at + 4, (offset + at) / (64 * KIB), true);
    }
  }

  /**
   * Writes one file, replacing it if present.
   * Requires `--allow-write`.
   * @param path File path.
   * @param spec Size and seed.
   */
  async write(path: string, spec: FileSpec): Promise<void> {
    if (spec.size <= MIB) {
      const buf = new Uint8Array(spec.size);
      this.chunk(buf, spec.seed, 0);
      await Deno.writeFile(path, buf);
      return;
    }
    using file = await Deno.open(path, { write: true, create: true, truncate: true });
    const buf = new Uint8Array(MIB);
    for (let offset = 0; offset < spec.size; offset += MIB) {
      const part = buf.subarray(0, Math.min(MIB, spec.size - offset));
      this.chunk(part, spec.seed, offset);
      let written = 0;
      while (written < part.byteLength) written += await file.write(part.subarray(written));
    }
  }
}

async function writeTree(root: string, files: FileSpec[], content: ContentSource): Promise<void> {
  const dirs = new Set(files.map((f) => f.path.split("/").slice(0, -1).join("/")));
  await Deno.mkdir(root, { recursive: true });
  for (const dir of [...dirs].sort()) {
    if (dir !== "") await Deno.mkdir(`${root}/${dir}`, { recursive: true });
  }
  let next = 0;
  async function worker(): Promise<void> {
    while (next < files.length) {
      const f = files[next++];
      if (f !== undefined) await content.write(`${root}/${f.path}`, f);
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker));
}

interface Stamp {
  generator: number;
  tree: string;
  params: Record<string, number>;
  /** Token of the tree this one was derived from ((d) is made from (c)). */
  basis?: string;
}

interface StampFile {
  stamp: Stamp;
  /** Changes whenever the tree is regenerated. */
  token: string;
}

async function currentToken(
  root: string,
  stamp: Stamp,
  expected: Manifest,
): Promise<string | undefined> {
  try {
    const found = JSON.parse(await Deno.readTextFile(`${root}.stamp.json`)) as StampFile;
    if (JSON.stringify(found.stamp) !== JSON.stringify(stamp)) return undefined;
    if (typeof found.token !== "string") return undefined;
    if (diffManifests(expected, await listTree(root)) !== undefined) return undefined;
    return found.token;
  } catch {
    return undefined;
  }
}

async function ensureTree(
  root: string,
  stamp: Stamp,
  expected: Manifest,
  build: () => Promise<void>,
  log: (message: string) => void,
): Promise<string> {
  const token = await currentToken(root, stamp, expected);
  if (token !== undefined) {
    log(`reusing ${root}`);
    return token;
  }
  log(`generating ${root} ...`);
  const start = performance.now();
  await removeTree(`${root}.stamp.json`);
  await removeTree(root);
  await build();
  const problem = diffManifests(expected, await listTree(root));
  if (problem !== undefined) throw new Error(`Cannot generate "${root}": ${problem}`);
  const file: StampFile = { stamp, token: new Date().toISOString() };
  await Deno.writeTextFile(`${root}.stamp.json`, JSON.stringify(file) + "\n");
  log(`generated ${root} in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return file.token;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e3).toFixed(1)} kB`;
}

/**
 * Generates (or reuses) the trees the requested workloads need under `<dir>/<preset>/` and
 * describes each workload.
 * Requires `--allow-read`, `--allow-write` and `--allow-run` (for `cp -a`).
 * @param dir Work directory, e.g. `/tmp/blit-bench`.
 * @param preset Parameter set name; also the sub-directory name.
 * @param ids Workloads wanted.
 * @param options Logging.
 * @returns The prepared workloads, in the order of `ids`.
 */
export async function prepareWorkloads(
  dir: string,
  preset: PresetName,
  ids: readonly WorkloadId[],
  options: PrepareOptions = {},
): Promise<Workload[]> {
  const { log = () => {} } = options;
  const p = PRESETS[preset];
  const root = `${dir}/${preset}`;
  await Deno.mkdir(root, { recursive: true });
  const content = new ContentSource(deriveSeed(p.seed, 5));
  const want = new Set(ids);
  const out = new Map<WorkloadId, Workload>();

  if (want.has("a")) {
    const files = planBig(p);
    const expected = manifestOf(files);
    const params = { seed: p.seed, bigFileBytes: p.bigFileBytes };
    const tree = `${root}/src-a`;
    const stamp: Stamp = { generator: GENERATOR_VERSION, tree: "a", params };
    await ensureTree(tree, stamp, expected, () => writeTree(tree, files, content), log);
    const title = `one ${formatBytes(p.bigFileBytes)} file`;
    out.set("a", { id: "a", title, kind: "copy", source: tree, expected });
  }

  if (want.has("b") || want.has("e")) {
    const files = planSmall(p);
    const expected = manifestOf(files);
    const params = {
      seed: p.seed,
      smallFiles: p.smallFiles,
      smallFileBytes: p.smallFileBytes,
      smallDirs: p.smallDirs,
    };
    const tree = `${root}/src-b`;
    const stamp: Stamp = { generator: GENERATOR_VERSION, tree: "b", params };
    await ensureTree(tree, stamp, expected, () => writeTree(tree, files, content), log);
    const shape = `${p.smallFiles} x ${p.smallFileBytes / KIB} KiB files in ${p.smallDirs} dirs`;
    out.set("b", { id: "b", title: shape, kind: "copy", source: tree, expected });
    const title = `no-op mirror of ${shape}`;
    out.set("e", { id: "e", title, kind: "mirror", source: tree, base: tree, expected });
  }

  if (want.has("c") || want.has("d")) {
    const files = planMixed(p);
    const expected = manifestOf(files);
    const params = {
      seed: p.seed,
      mixedFiles: p.mixedFiles,
      mixedMinBytes: p.mixedMinBytes,
      mixedMaxBytes: p.mixedMaxBytes,
      mixedDirs: p.mixedDirs,
    };
    const tree = `${root}/src-c`;
    const stamp: Stamp = { generator: GENERATOR_VERSION, tree: "c", params };
    const cToken = await ensureTree(
      tree,
      stamp,
      expected,
      () => writeTree(tree, files, content),
      log,
    );
    const bytes = [...expected.values()].reduce((sum, n) => sum + n, 0);
    const shape = `${p.mixedFiles} files ${formatBytes(p.mixedMinBytes)}-` +
      `${formatBytes(p.mixedMaxBytes)} log-uniform (${formatBytes(bytes)})`;
    out.set("c", { id: "c", title: shape, kind: "copy", source: tree, expected });

    if (want.has("d")) {
      const mutation = planMutation(files, p);
      const mutated = mutatedManifest(files, mutation);
      const dTree = `${root}/src-d`;
      const dStamp: Stamp = {
        generator: GENERATOR_VERSION,
        tree: "d",
        params: { ...params, mutationPercent: p.mutationPercent },
        basis: cToken,
      };
      const build = async (): Promise<void> => {
        await cloneTree(tree, dTree);
        for (const path of mutation.remove) await Deno.remove(`${dTree}/${path}`);
        for (const f of [...mutation.modify, ...mutation.add]) {
          await content.write(`${dTree}/${f.path}`, f);
        }
      };
      await ensureTree(dTree, dStamp, mutated, build, log);
      const n = mutation.modify.length;
      const title = `mirror after ${n} modified, ${mutation.add.length} added, ` +
        `${mutation.remove.length} deleted of (c)`;
      out.set("d", {
        id: "d",
        title,
        kind: "mirror",
        source: dTree,
        base: tree,
        expected: mutated,
      });
    }
  }

  const result: Workload[] = [];
  for (const id of ids) {
    const w = out.get(id);
    if (w !== undefined) result.push(w);
  }
  return result;
}
