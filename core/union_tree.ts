/**
 * Several sources read as one tree (`blit copy a b/ c DST/`): {@linkcode UnionTree} lays
 * directories of one or more trees over each other, as rsync's file list merges its sources. A
 * source named without a trailing slash is a layer holding only that name; one named with a
 * slash is a layer holding its contents. Where layers hold the same path, the first layer that
 * holds it decides what it is; directories of the same path are merged, name by name.
 *
 * The union is read-only, for a session's SOURCE role: it lists, reads and (after a move)
 * removes entries, each through the layer that holds it; everything that would write refuses.
 *
 * @module
 */

import { joinPath, splitPath } from "./tree.ts";
import type {
  DirItem,
  SetAside,
  StatManyOptions,
  TempFile,
  TemporaryFacts,
  Tree,
  TreeCapabilities,
  TreeDir,
} from "./tree.ts";
import type { EntryInfo } from "./types.ts";

/** One layer of a {@linkcode UnionTree}. */
export interface UnionLayer {
  /** The tree whose root is laid at the union's root. */
  tree: Tree;
  /** The one name of the tree's root this layer holds (a source named without `/`); `null`: all. */
  only: string | null;
}

/**
 * Directories of several trees laid over each other, read as one tree.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { PlainTree } from "./tree.ts";
 * import { UnionTree } from "./union_tree.ts";
 * const root = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${root}/a/d`, { recursive: true });
 * Deno.mkdirSync(`${root}/b/d`, { recursive: true });
 * Deno.writeTextFileSync(`${root}/a/d/x`, "from a");
 * Deno.writeTextFileSync(`${root}/b/d/y`, "from b");
 * Deno.writeTextFileSync(`${root}/b/z`, "from b");
 * Deno.writeTextFileSync(`${root}/c`, "c itself");
 * const union = new UnionTree([
 *   { tree: new PlainTree(`${root}/a`), only: null }, // a/
 *   { tree: new PlainTree(`${root}/b`), only: null }, // b/
 *   { tree: new PlainTree(root), only: "c" }, // c
 * ]);
 * deepStrictEqual(union.dir("").list().map((item) => item.name), ["c", "d", "z"]);
 * deepStrictEqual(union.dir("d").list().map((item) => item.name), ["x", "y"]);
 * deepStrictEqual(union.localPath("d/y"), `${root}/b/d/y`);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class UnionTree implements Tree {
  readonly caps: TreeCapabilities;
  readonly #layers: readonly UnionLayer[];

  /**
   * Lays the layers over each other, the first on top.
   * @param layers The layers, at least one.
   */
  constructor(layers: readonly UnionLayer[]) {
    if (layers.length === 0) throw new RangeError("Cannot make a union of no trees");
    this.#layers = layers;
    this.caps = {
      symlinks: false,
      localPaths: layers.every((layer) => layer.tree.caps.localPaths),
    };
  }

  /** Opens the directory `rel` in every layer that holds it as a directory. */
  dir(rel: string): TreeDir {
    const first = rel.split("/", 1)[0] as string;
    const dirs: TreeDir[] = [];
    let missing: unknown = null;
    for (const layer of this.#layers) {
      if (rel !== "" && layer.only !== null && layer.only !== first) continue;
      try {
        // A plain tree opens without looking: whether the layer holds it is read here.
        const dir = layer.tree.dir(rel);
        if (rel === "" || dir.stat("")?.kind === "dir") dirs.push(dir);
      } catch (error) {
        if (
          !(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)
        ) {
          throw error;
        }
        missing ??= error;
      }
    }
    if (dirs.length === 0) throw missing ?? new Deno.errors.NotFound(`Cannot open "${rel}"`);
    return new UnionDir(rel, dirs, rel === "" ? this.#layers.map((layer) => layer.only) : null);
  }

  /** Refuses: a union is read-only. */
  mkdirAll(_rel: string): void {
    throw readOnly();
  }

  /** What is at a path: the first layer's answer that finds something. */
  probe(rel: string): { exists: boolean; isDirectory: boolean } {
    try {
      const [parent, name] = splitPath(rel);
      if (rel === "") return { exists: true, isDirectory: true };
      const info = this.dir(parent).stat(name);
      return { exists: info !== null, isDirectory: info?.kind === "dir" };
    } catch {
      return { exists: false, isDirectory: false };
    }
  }

  /** Refuses: a session walks a union from its root. */
  sub(_rel: string): Tree {
    throw new Deno.errors.NotSupported("Cannot open a part of a merged source as a tree");
  }

  /** The local path of the entry in the layer that holds it. */
  localPath(rel: string): string | null {
    if (rel === "") return null;
    const [parent, name] = splitPath(rel);
    try {
      return this.dir(parent).localPath(name);
    } catch {
      return null;
    }
  }
}

/** One directory of a union: the same directory of every layer that holds it. */
class UnionDir implements TreeDir {
  readonly rel: string;
  readonly #dirs: readonly TreeDir[];
  /** At the union's root: each layer's one name (`null`: all its names). */
  readonly #only: readonly (string | null)[] | null;
  /** Name → the directory that holds it (the first layer's), once listed or looked up. */
  #owners: Map<string, TreeDir> | null = null;

  constructor(rel: string, dirs: readonly TreeDir[], only: readonly (string | null)[] | null) {
    this.rel = rel;
    this.#dirs = dirs;
    this.#only = only;
  }

  /** Whether layer `i` holds `name` here at all (its one name, at the root). */
  #shows(i: number, name: string): boolean {
    const only = this.#only?.[i] ?? null;
    return only === null || only === name;
  }

  list(): DirItem[] {
    const owners = new Map<string, TreeDir>();
    const items = new Map<string, DirItem>();
    for (const [i, dir] of this.#dirs.entries()) {
      for (const item of dir.list()) {
        if (!this.#shows(i, item.name) || items.has(item.name)) continue;
        items.set(item.name, item);
        owners.set(item.name, dir);
      }
    }
    this.#owners = owners;
    return [...items.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  }

  /** The directory that holds `name`: the first layer with something of that name. */
  #owner(name: string): TreeDir | null {
    const known = this.#owners?.get(name);
    if (known !== undefined) return known;
    for (const [i, dir] of this.#dirs.entries()) {
      if (!this.#shows(i, name)) continue;
      if (dir.stat(name) !== null) {
        (this.#owners ??= new Map()).set(name, dir);
        return dir;
      }
    }
    return null;
  }

  #holder(name: string): TreeDir {
    const owner = this.#owner(name);
    if (owner === null) {
      throw new Deno.errors.NotFound(`Cannot find "${joinPath(this.rel, name)}" in any source`);
    }
    return owner;
  }

  stat(name: string): EntryInfo | null {
    if (name === "") return (this.#dirs[0] as TreeDir).stat("");
    return this.#owner(name)?.stat(name) ?? null;
  }

  statMany(names: readonly string[], options: StatManyOptions = {}): (EntryInfo | null | Error)[] {
    const devices = options.devices ?? null;
    const inodes = options.inodes ?? null;
    if (devices !== null) devices.length = 0;
    if (inodes !== null) inodes.length = 0;
    const results: (EntryInfo | null | Error)[] = new Array(names.length).fill(null);
    // One batch per layer, each entry read where it lives.
    const batches = new Map<TreeDir, number[]>();
    for (const [i, name] of names.entries()) {
      devices?.push(NaN);
      inodes?.push(NaN);
      const owner = name === "" ? null : this.#owner(name);
      if (owner === null) continue;
      const batch = batches.get(owner);
      if (batch === undefined) batches.set(owner, [i]);
      else batch.push(i);
    }
    for (const [dir, indexes] of batches) {
      const sinks = { devices: [] as number[], inodes: [] as number[] };
      const batchNames = indexes.map((i) => names[i] as string);
      const found = dir.statMany?.(batchNames, sinks) ??
        batchNames.map((name) => dir.stat(name));
      for (const [k, i] of indexes.entries()) {
        results[i] = found[k] ?? null;
        if (devices !== null) devices[i] = sinks.devices[k] ?? NaN;
        if (inodes !== null) inodes[i] = sinks.inodes[k] ?? NaN;
      }
    }
    return results;
  }

  device(): number {
    return (this.#dirs[0] as TreeDir).device?.() ?? NaN;
  }

  readLink(name: string): string {
    return this.#holder(name).readLink(name);
  }

  openRead(name: string): Deno.FsFile {
    return this.#holder(name).openRead(name);
  }

  localPath(name: string): string | null {
    return this.#owner(name)?.localPath(name) ?? null;
  }

  /**
   * Removes an entry where it lives (a move's source): a file or link from the layer whose
   * entry was read (another layer's of the same name was never sent, and stays); an empty
   * directory from every layer that holds it as one.
   * @throws {Error} The first failure (a directory that is not empty, in one of the layers).
   */
  remove(name: string, options?: { recursive?: boolean }): void {
    const owner = this.#holder(name);
    if (owner.stat(name)?.kind !== "dir") return owner.remove(name, options);
    let failure: unknown = null;
    for (const [i, dir] of this.#dirs.entries()) {
      if (!this.#shows(i, name) || dir.stat(name)?.kind !== "dir") continue;
      try {
        dir.remove(name, options);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== null) throw failure;
  }

  inspectTemporary(_name: string): TemporaryFacts | null {
    return null;
  }

  createTemp(_name: string, _mode: number): TempFile {
    throw readOnly();
  }

  rename(_from: string, _to: string): void {
    throw readOnly();
  }

  mkdir(_name: string, _mode: number): void {
    throw readOnly();
  }

  symlink(_target: string, _name: string): void {
    throw readOnly();
  }

  setTimes(_name: string, _mtimeMs: number): void {
    throw readOnly();
  }

  setMode(_name: string, _mode: number): void {
    throw readOnly();
  }

  setAside(_name: string): SetAside {
    throw readOnly();
  }
}

function readOnly(): Error {
  return new Deno.errors.NotSupported("Cannot write to a merged source: it is read-only");
}
