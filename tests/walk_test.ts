import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { PathEscapeError } from "../core/paths.ts";
import {
  type DirItem,
  joinPath,
  kindOfItem,
  type PartialTag,
  PlainTree,
  TEMP_PREFIX,
  type Tree,
  type TreeDir,
} from "../core/tree.ts";
import { ContainedTree } from "../core/contained_tree.ts";
import type { EntryInfo } from "../core/types.ts";
import { readDirectory, walkTree } from "../core/walk.ts";
import {
  ADMIN_LIMITS,
  AdminBudget,
  AdminError,
  findEntries,
  removeEntry,
} from "../core/admin/mod.ts";
import { type WalkStep, walkSubtree } from "../core/admin/_walk.ts";
import { makeTree, withTempDir } from "./_helpers.ts";

/**
 * What a {@linkcode SpyTree} does instead of the real call, keyed by `"<call> <path>"` (`"dir b"`,
 * `"stat b/c.txt"`, `"list b"`): throw the error; answer `null` ("gone") to a `stat`; return the
 * array from a `list`.
 */
type Faults = Record<string, Error | null | DirItem[]>;

/** A directory handle that logs `list`, `stat` and `remove` and applies the faults. */
class SpyDir implements TreeDir {
  constructor(readonly inner: TreeDir, readonly rel: string, readonly spy: SpyTree) {}

  list(): DirItem[] {
    const fault = this.spy.note(`list ${this.rel}`);
    return Array.isArray(fault) ? fault : this.inner.list();
  }
  stat(name: string): EntryInfo | null {
    if (this.spy.note(`stat ${joinPath(this.rel, name)}`) === null) return null;
    return this.inner.stat(name);
  }
  remove(name: string, options?: { recursive?: boolean }): void {
    this.spy.note(`remove ${joinPath(this.rel, name)}`);
    this.inner.remove(name, options);
  }
  readLink = (name: string) => this.inner.readLink(name);
  openRead = (name: string) => this.inner.openRead(name);
  createTemp = (name: string, mode: number, options?: { partial?: PartialTag }) =>
    this.inner.createTemp(name, mode, options);
  inspectTemporary = (name: string) => this.inner.inspectTemporary(name);
  rename = (from: string, to: string) => this.inner.rename(from, to);
  mkdir = (name: string, mode: number) => this.inner.mkdir(name, mode);
  symlink = (target: string, name: string) => this.inner.symlink(target, name);
  setTimes = (name: string, mtimeMs: number) => this.inner.setTimes(name, mtimeMs);
  setMode = (name: string, mode: number) => this.inner.setMode(name, mode);
  localPath = (name: string) => this.inner.localPath(name);
}

/** A tree that logs every directory it opens and every entry it reads or removes. */
class SpyTree implements Tree {
  constructor(
    readonly inner: Tree,
    readonly faults: Faults = {},
    readonly log: string[] = [],
    readonly prefix = "",
  ) {}

  get caps() {
    return this.inner.caps;
  }
  /** Logs a call; throws its fault, or returns it. */
  note(call: string): Error | null | DirItem[] | undefined {
    this.log.push(call);
    const fault = this.faults[call];
    if (fault instanceof Error) throw fault;
    return fault;
  }
  dir(rel: string): TreeDir {
    const path = joinPath(this.prefix, rel);
    this.note(`dir ${path}`);
    return new SpyDir(this.inner.dir(rel), path, this);
  }
  sub(rel: string): Tree {
    return new SpyTree(this.inner.sub(rel), this.faults, this.log, joinPath(this.prefix, rel));
  }
  mkdirAll = (rel: string, mode?: number) => this.inner.mkdirAll(rel, mode);
  probe = (rel: string) => this.inner.probe(rel);
  localPath = (rel: string) => this.inner.localPath(rel);
}

/** A budget that logs its checks and ticks into `log`. */
class SpyBudget extends AdminBudget {
  readonly #log: string[];
  constructor(log: string[]) {
    super("walk", 60_000);
    this.#log = log;
  }
  override check(): void {
    this.#log.push("check");
    super.check();
  }
  override tick(): Promise<void> {
    this.#log.push("tick");
    return super.tick();
  }
}

/** Collects a walk's steps as short lines. */
async function steps(walk: AsyncGenerator<WalkStep>): Promise<string[]> {
  const out: string[] = [];
  for await (const step of walk) {
    if (step.type === "entry") out.push(`entry ${step.path} ${step.info.kind}`);
    else if (step.type === "problem") out.push(`problem ${step.path} ${step.error ?? "gone"}`);
    else if (step.type === "unreadable") {
      out.push(`unreadable ${step.path}${step.gone ? " gone" : ""}`);
    } else out.push(`${step.type} ${step.path} ${step.depth}`);
  }
  return out;
}

const SAMPLE = {
  "b.txt": "bb",
  [`${TEMP_PREFIX}1-b.txt`]: "partial",
  "a/z.txt": "z",
  "a/y/x.txt": "x",
  "a/c.txt": "c",
  "l": { link: "a" },
};

Deno.test("readDirectory()", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(dir, {
      ...SAMPLE,
      "B.txt": "",
      "\u00e9": "",
      "_": "",
    });
    const plain = new PlainTree(dir);

    await t.step("sorts by UTF-16 code units and leaves temporaries out", () => {
      const { items } = readDirectory(plain, "");
      assertEquals(items.map((item) => [item.name, kindOfItem(item)]), [
        ["B.txt", "file"],
        ["_", "file"],
        ["a", "dir"],
        ["b.txt", "file"],
        ["l", "symlink"],
        ["\u00e9", "file"],
      ]);
    });

    await t.step("keeps temporaries when asked", () => {
      const names = readDirectory(plain, "", { temporaries: true }).items.map((item) => item.name);
      assertEquals(names.filter((name) => name.startsWith(TEMP_PREFIX)).length, 1);
      assertEquals(names.length, 7);
    });

    await t.step("refuses more names than maxNames, temporaries included", () => {
      assertEquals(readDirectory(plain, "", { maxNames: 7 }).items.length, 6);
      throws(() => readDirectory(plain, "", { maxNames: 6 }), (error: unknown) => {
        assert(error instanceof RangeError);
        assertEquals(error.message, "Cannot read a directory of more than 6 entries");
        return true;
      });
    });

    await t.step("opens the directory and lists it, nothing more", () => {
      const spy = new SpyTree(plain);
      const { handle } = readDirectory(spy, "a");
      assertEquals(spy.log, ["dir a", "list a"]);
      assertEquals(handle.stat("z.txt")?.size, 1);
    });

    await t.step("opens strictly: a contained tree refuses a link on the way", () => {
      const contained = ContainedTree.open(dir);
      assertEquals(readDirectory(contained, "a/y").items.map((item) => item.name), ["x.txt"]);
      throws(() => readDirectory(contained, "l"), PathEscapeError);
      throws(() => readDirectory(contained, "missing"), Deno.errors.NotFound);
    });
  });
});

Deno.test("walkTree()", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(dir, SAMPLE);

    await t.step("yields a group per directory, parents first, each entry read once", async () => {
      const spy = new SpyTree(new PlainTree(dir));
      const groups = [];
      for await (const group of walkTree(spy, { filter: () => true, onError: () => {} })) {
        groups.push([group.dir, group.complete, group.entries.map((entry) => entry.path)]);
      }
      assertEquals(groups, [
        ["", true, ["a", "b.txt", "l"]],
        ["a", true, ["a/c.txt", "a/y", "a/z.txt"]],
        ["a/y", true, ["a/y/x.txt"]],
      ]);
      assertEquals(spy.log, [
        "dir ",
        "list ",
        "stat a",
        "stat b.txt",
        "stat l",
        "dir a",
        "list a",
        "stat a/c.txt",
        "stat a/y",
        "stat a/z.txt",
        "dir a/y",
        "list a/y",
        "stat a/y/x.txt",
      ]);
    });

    await t.step("neither reads nor enters what the filter leaves out", async () => {
      const spy = new SpyTree(new PlainTree(dir));
      const walk = walkTree(spy, { filter: (path) => path !== "a", onError: () => {} });
      for await (const _ of walk) { /* drain */ }
      assertEquals(spy.log, ["dir ", "list ", "stat b.txt", "stat l"]);
    });

    await t.step("reports what it cannot read with tree paths, skips what vanished", async () => {
      Deno.writeTextFileSync(`${dir}/a/back\\slash`, ""); // a contained tree cannot name it
      const spy = new SpyTree(ContainedTree.open(dir), {
        "stat a/c.txt": null,
        "stat a/z.txt": new Deno.errors.PermissionDenied("denied"),
        "dir a/y": new Deno.errors.PermissionDenied("denied"),
      });
      const errors: string[] = [];
      const groups = [];
      const walk = walkTree(spy, {
        filter: () => true,
        onError: (p, m) => errors.push(`${p}: ${m}`),
      });
      for await (const group of walk) {
        groups.push([group.dir, group.complete, group.entries.map((entry) => entry.path)]);
      }
      assertEquals(groups, [
        ["", true, ["a", "b.txt", "l"]],
        ["a", false, ["a/y"]],
        ["a/y", false, []],
      ]);
      assertEquals(errors, [
        'a/back\\slash: Cannot read: Cannot use path "back\\\\slash": it contains a backslash',
        "a/z.txt: Cannot read: denied",
        "a/y: Cannot list directory: denied",
      ]);
      assert(errors.every((error) => !error.includes(dir)));
      Deno.removeSync(`${dir}/a/back\\slash`);
    });
  });
});

Deno.test("walkSubtree() (the admin walks)", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(dir, SAMPLE);

    await t.step("checks the budget per directory and ticks it per entry", async () => {
      const spy = new SpyTree(ContainedTree.open(dir));
      const walk = walkSubtree(spy, "", { budget: new SpyBudget(spy.log) });
      assertEquals(await steps(walk), [
        "enter  0",
        "entry a dir",
        "enter a 1",
        "entry a/c.txt file",
        "entry a/y dir",
        "enter a/y 2",
        "entry a/y/x.txt file",
        "leave a/y 2",
        "entry a/z.txt file",
        "leave a 1",
        "entry b.txt file",
        "entry l symlink",
        "leave  0",
      ]);
      const root = spy.log.slice(0, 4);
      assertEquals(root, ["check", "dir ", "list ", "tick"]);
      assertEquals(spy.log.filter((call) => call === "check").length, 3);
      assertEquals(spy.log.filter((call) => call === "tick").length, 7);
      spy.log.forEach((call, i) => {
        if (call.startsWith("stat ")) assertEquals(spy.log[i - 1], "tick");
        if (call.startsWith("dir ")) assertEquals(spy.log[i - 1], "check");
      });
    });

    await t.step("enters subdirectories last when asked, temporaries included", async () => {
      const spy = new SpyTree(ContainedTree.open(dir));
      const walk = walkSubtree(spy, "", {
        budget: new AdminBudget("walk", 60_000),
        temporaries: true,
        subdirsLast: true,
      });
      assertEquals(await steps(walk), [
        "enter  0",
        `entry ${TEMP_PREFIX}1-b.txt file`,
        "entry a dir",
        "entry b.txt file",
        "entry l symlink",
        "enter a 1",
        "entry a/c.txt file",
        "entry a/y dir",
        "entry a/z.txt file",
        "enter a/y 2",
        "entry a/y/x.txt file",
        "leave a/y 2",
        "leave a 1",
        "leave  0",
      ]);
    });

    await t.step("reports entries and directories it cannot read", async () => {
      const spy = new SpyTree(ContainedTree.open(dir), {
        "stat a/c.txt": null,
        "stat a/z.txt": new Deno.errors.PermissionDenied("denied"),
        "dir a/y": new Deno.errors.NotADirectory("a/y"),
      });
      const walk = walkSubtree(spy, "a", { budget: new AdminBudget("walk", 60_000) });
      assertEquals(await steps(walk), [
        "enter a 0",
        "problem a/c.txt gone",
        "entry a/y dir",
        "unreadable a/y gone",
        "problem a/z.txt PermissionDenied: denied",
        "leave a 0",
      ]);
      const start = walkSubtree(spy, "a/y", { budget: new AdminBudget("walk", 60_000) });
      assertEquals(await steps(start), ["unreadable a/y"]);
    });

    await t.step("turns a huge directory into `too-large`", async () => {
      const huge = new Array<DirItem>(ADMIN_LIMITS.namesPerDirectory + 1).fill({
        name: "f",
        isFile: true,
        isDirectory: false,
        isSymlink: false,
      });
      const spy = new SpyTree(ContainedTree.open(dir), { "list a": huge });
      const budget = new AdminBudget("walk", 60_000);
      const walk = walkSubtree(spy, "", { budget });
      const lines = await steps(walk);
      assert(lines.includes("unreadable a"), lines.join("\n"));
      const found = findEntries(spy, "", { budget });
      for (;;) {
        const step = await found.next();
        if (step.done) {
          assertEquals(step.value, { truncated: false, errors: 1 });
          break;
        }
      }
      await rejects(removeEntry(spy, "a", { budget }), (error: unknown) => {
        assert(error instanceof AdminError);
        assertEquals(error.code, "too-large");
        assertEquals(
          error.message,
          `Cannot read a directory of more than ${ADMIN_LIMITS.namesPerDirectory} entries`,
        );
        return true;
      });
    });

    await t.step("yields to the event loop every few hundred entries", async () => {
      for (let i = 0; i < 3 * ADMIN_LIMITS.entriesPerTick; i++) {
        Deno.writeTextFileSync(`${dir}/a/y/n${i}`, "");
      }
      let entries = 0;
      let seenByTimer = -1;
      setTimeout(() => seenByTimer = entries, 0);
      const walk = walkSubtree(new PlainTree(dir), "", { budget: new AdminBudget("walk", 60_000) });
      for await (const step of walk) if (step.type === "entry") entries++;
      assert(entries > 3 * ADMIN_LIMITS.entriesPerTick);
      assert(seenByTimer >= 0, "the walk never let a timer run");
      assert(
        seenByTimer <= ADMIN_LIMITS.entriesPerTick,
        `first yield after ${seenByTimer} entries`,
      );
    });
  });
});

Deno.test("removeEntry() removes files before directories, deepest first", async () => {
  await withTempDir(async (dir) => {
    await makeTree(dir, { ...SAMPLE, "a/y/w/v.txt": "v" });
    const spy = new SpyTree(ContainedTree.open(dir));
    assertEquals(await removeEntry(spy, "a", { budget: new AdminBudget("remove", 60_000) }), 7);
    assertEquals(spy.log.filter((call) => call.startsWith("remove ")), [
      "remove a/c.txt",
      "remove a/z.txt",
      "remove a/y/x.txt",
      "remove a/y/w/v.txt",
      "remove a/y/w",
      "remove a/y",
      "remove a",
    ]);
    // Each directory is opened strictly when the walk descends, and again (through its
    // parent) right before it is removed.
    assertEquals(spy.log.filter((call) => call.startsWith("dir ")), [
      "dir ",
      "dir a",
      "dir a/y",
      "dir a/y/w",
      "dir a/y",
      "dir a",
      "dir ",
    ]);
    await rejects(Deno.lstat(`${dir}/a`), Deno.errors.NotFound);
  });
});
