/**
 * Conformance of the three routes of one engine: every row of {@linkcode CASES} runs through the
 * real `blit` CLI on local→local, local→daemon (push) and daemon→local (pull), against one real
 * `blitd` exporting two writable modules for the whole file: `m`, and `k`, which keeps setuid,
 * setgid and sticky bits (`keep_special_bits = true`).
 *
 * **The table.** A row names a verb, the source side and the destination side as declared trees
 * (`_conformance.ts`: explicit modes and mtimes, defaults derived from each path), SRC and DST as
 * typed relative to those sides (trailing slashes matter), extra flags, and the expectation: the
 * exit code, the destination tree after the run, the source tree after it (unchanged unless
 * given), and the `--json` counters. Adding a case is adding a row.
 *
 * **The routes.** Each case and route gets its own directories: `<local>/<id>-<route>/` (also the
 * working directory, so local paths are typed relative, e.g. `s/src/` and `d/dst`) and
 * `<module>/<id>-<route>/`, reached as `127.0.0.1:PORT:/m/<id>-<route>/…`. Push reads its
 * source from `s/` locally and writes under the module; pull reads its source from the module and
 * writes to `d/` locally; the test reads both sides straight from disk. Every run adds
 * `--json --no-history`.
 *
 * **What is checked.** Per route: the exit code; no stack trace on stderr; refused runs (exit 1)
 * print one line; the destination and source trees (names, kinds, bytes, modes, mtimes to the
 * millisecond, link targets); the summary's counters, outcome, `dry_run`, whether deletions were
 * skipped, and the failure paths. Across routes: the same key set, the same `files_examined`,
 * `files_transferred`, `bytes_transferred`, `entries_deleted`, `sources_removed`, `files_failed`,
 * `outcome`, `dry_run`, `deletions_skipped_reason` text and failure paths, the same exit code, the
 * same trees (mtimes a run sets to "now" aside), and for refused runs the same stderr once SRC
 * and DST as typed are replaced by `<SRC>` and `<DST>`.
 *
 * **Flags and modules per route.** A row may add flags on one route only (`routeFlags`: e.g.
 * `--keep-special-bits`, which only a pull's client uses) and send its remote routes to the
 * module `k`, which says `keep_special_bits = true` (`module: "keep"`), so that rows about
 * setuid, setgid and sticky bits name on each route what keeps them.
 *
 * **Route limits.** The daemon's sandbox cannot create symlinks (Deno allows `symlink` only with
 * unscoped read and write permission), so a PUSH whose source holds links copies everything else
 * and reports each link as a failure (exit 2). Rows list such route pairs under `limits` with
 * that reason and their own expectation; those routes are left out of the agreement check, except
 * for the summary's key set. Every other route must agree exactly.
 *
 * **Environment.** Cases that make a destination file immutable (`chattr +i`, so even root
 * cannot replace it: a per-file failure) are skipped with a printed reason when `chattr` does
 * not work here; FIFOs are made with `mkfifo`. Each run is stopped after 60 s.
 *
 * @module
 */

import { startDaemon, type TestDaemon } from "./_daemon.ts";
import { assertNoStack } from "./_helpers.ts";
import {
  AGREE,
  buildTree,
  changedEntries,
  chattrProblem,
  diffFound,
  diffTree,
  dir,
  fifo,
  file,
  type FoundTree,
  FRESH,
  link,
  linksOf,
  merge,
  patch,
  pick,
  put,
  readChangeTimes,
  readFound,
  runCli,
  sh,
  sizeOf,
  sub,
  T0,
  type Tree,
  tree,
  type Want,
  without,
} from "./_conformance.ts";

/** A transfer verb. */
type Verb = "copy" | "mirror" | "move";
/** One of the three routes. */
type Route = "local" | "push" | "pull";
/** The `outcome` values of the summary. */
type Outcome = "transferred" | "up_to_date" | "source_empty" | "failed" | "partial";

/** What a run on one route must produce. */
interface Expect {
  /** Exit code: 0 ok, 1 refused or fatal, 2 partial (a file failed or deletions skipped). */
  code: 0 | 1 | 2;
  /** The destination side after the run. */
  dst: Tree;
  /** The source side after the run (default: unchanged). */
  src?: Tree;
  /** `files_transferred` (not checked for refused runs). */
  transferred?: number;
  /** `bytes_transferred`, when the case prescribes it (else the routes must only agree). */
  bytes?: number;
  /** `entries_deleted`, or {@linkcode AGREE} when the count is not prescribed. */
  deleted?: number | typeof AGREE;
  /** `sources_removed`. */
  removed?: number;
  /** The failure paths (`failures[].path`, any order), or only how many when paths vary. */
  failed?: readonly string[] | number;
  /** `outcome`. */
  outcome?: Outcome;
  /** Whether `deletions_skipped_reason` is set. */
  skipped?: boolean;
}

/** A route that cannot follow the common expectation, and what it does instead. */
interface Limit {
  /** Why. */
  reason: string;
  /** The documented behaviour on that route. */
  expect: Expect;
}

/** One row of the table. */
interface Case {
  /** What the case shows. */
  name: string;
  /** The verb. */
  verb: Verb;
  /** The source side before the run. */
  src: Tree;
  /** The destination side before the run (default: empty). */
  dst?: Tree;
  /** SRC as typed, relative to the source side. */
  from: string;
  /** DST as typed, relative to the destination side. */
  to: string;
  /** Flags after SRC and DST (`--json --no-history` are always added). */
  flags?: string[];
  /** Flags added on one route only, after `flags`. */
  routeFlags?: Partial<Record<Route, string[]>>;
  /** `"keep"`: the remote routes use the module `k` (`keep_special_bits = true`), not `m`. */
  module?: "keep";
  /** Destination-side files made immutable (`chattr +i`) before the run, so writing them fails. */
  immutable?: string[];
  /**
   * Run once first (must exit 0), then check the second run, which must change nothing on the
   * destination (no entry's ctime moves: not even a directory's attributes are set again).
   */
  rerun?: boolean;
  /** The common expectation. */
  expect: Expect;
  /** Routes with a documented limit. */
  limits?: Partial<Record<Route, Limit>>;
}

// ---------------------------------------------------------------------------------------------
// Trees used by several rows.

const BIN = Uint8Array.from({ length: 300 }, (_, i) => (i * 7 + 3) & 0xff);

/** The usual source: files with several modes, a nested tree, an empty directory. */
const BASE: Tree = tree({
  "src": dir({ mode: 0o755 }),
  "src/a.txt": file("alpha\n"),
  "src/run.sh": file("#!/bin/sh\necho hi\n", { mode: 0o755 }),
  "src/sub": dir({ mode: 0o750 }),
  "src/sub/b.txt": file("bravo bravo\n", { mode: 0o640 }),
  "src/sub/deep/c.bin": file(BIN, { mode: 0o600 }),
  "src/empty": dir({ mode: 0o700 }),
});
const BASE_FILES = ["src/a.txt", "src/run.sh", "src/sub/b.txt", "src/sub/deep/c.bin"];
const BASE_BYTES = sizeOf(BASE, BASE_FILES);
const A: Want = BASE["src/a.txt"] as Want;

/** BASE with a file the destination will refuse (it is immutable there). */
const BASE_LOCKED: Tree = put(BASE, { "src/locked.txt": file("new locked contents\n") });

/** Setuid, setgid and sticky bits on files and directories. */
const SPECIAL: Tree = tree({
  "src": dir({ mode: 0o755 }),
  "src/suid.bin": file("setuid and setgid\n", { mode: 0o6755 }),
  "src/plain.txt": file("plain\n", { mode: 0o640 }),
  "src/shared": dir({ mode: 0o2775 }),
  "src/shared/f.txt": file("setgid file\n", { mode: 0o2644 }),
  "src/tmp": dir({ mode: 0o1777 }),
  "src/tmp/g.txt": file("in a sticky directory\n", { mode: 0o4700 }),
});
const SPECIAL_FILES = ["src/suid.bin", "src/plain.txt", "src/shared/f.txt", "src/tmp/g.txt"];

/** A tree with setuid, setgid and sticky bits dropped (the mode rule of a receiving peer). */
function masked(t: Tree): Tree {
  const out: Tree = {};
  for (const [path, want] of Object.entries(t)) {
    out[path] = typeof want.mode === "number" ? { ...want, mode: want.mode & 0o777 } : want;
  }
  return out;
}

/** `SRC` tree `t` as it lands at `to` (its root entry renamed). */
function into(t: Tree, to: string): Tree {
  return sub(t, "src", to);
}

/** A directory blit creates to hold the result: mode not prescribed, mtime now. */
const NEW_DIR: Want = { kind: "dir", mode: AGREE, mtime: FRESH };

/** A destination holding an older copy of BASE: a.txt differs in size, c.bin is missing. */
const OLDER: Tree = put(without(into(BASE, "dst"), "dst/sub/deep"), {
  "dst/a.txt": file("alpha, an older and longer text\n", { mtime: T0 }),
});

/** Large files (remote routes send them as deltas against the old copies in DELTA_OLD). */
const LARGE_OLD = Uint8Array.from({ length: 1536 * 1024 }, (_, i) => (i * 2654435761) >>> 24);
const DELTA_SRC: Tree = tree({
  "src": dir({ mode: 0o755 }),
  // 4 KiB inserted in the middle.
  "src/inserted.bin": file(
    Uint8Array.from([
      ...LARGE_OLD.subarray(0, 700_000),
      ...BIN,
      ...BIN,
      ...LARGE_OLD.subarray(700_000),
    ]),
  ),
  // The tail cut off.
  "src/truncated.bin": file(LARGE_OLD.subarray(0, 1_100_000), { mode: 0o600 }),
});
const DELTA_OLD: Tree = tree({
  "dst": dir({ mode: 0o755 }),
  "dst/inserted.bin": file(LARGE_OLD, { mtime: T0 }),
  "dst/truncated.bin": file(LARGE_OLD, { mtime: T0 }),
});

/** Destination extras a mirror deletes: two files, at two depths. */
const EXTRAS: Tree = tree({
  "dst": dir({ mode: 0o700 }),
  "dst/extra.txt": file("extra\n"),
  "dst/sub": dir({ mode: 0o777 }),
  "dst/sub/stale.txt": file("stale\n"),
});
/** EXTRAS plus an empty directory: three deletions. */
const EXTRAS_GONE: Tree = put(EXTRAS, { "dst/gone": dir() });

/** A destination whose `locked.txt` (immutable during the run) differs from the source's. */
const LOCKED_DST: Tree = tree({ "dst": dir(), "dst/locked.txt": file("old\n") });

const LINKS: Tree = tree({
  "src": dir(),
  "src/a.txt": file("alpha\n"),
  "src/sub/b.txt": file("bravo\n", { mode: 0o600 }),
  "src/ln": link("a.txt"),
  "src/dangling": link("no/such/file"),
  "src/abs": link("/etc/hostname"),
  "src/sub/up": link("../a.txt"),
});

const KINDS: Tree = tree({
  "src": dir(),
  "src/x": file("x is a file now\n"),
  "src/y/z.txt": file("zed\n"),
  "src/w": file("w is a file\n"),
  "src/keep.txt": file("keep\n"),
});
const KINDS_DST: Tree = merge(
  tree({
    "dst": dir(),
    "dst/x": dir(),
    "dst/y": file("y was a file\n"),
    "dst/w": link("keep.txt"),
  }),
  sub(KINDS, "src/keep.txt", "dst/keep.txt"),
);

const LOGS: Tree = tree({
  "src": dir(),
  "src/a.txt": file("a\n"),
  "src/x.log": file("log\n"),
  "src/sub/b.txt": file("b\n"),
});
const LOGS_DST: Tree = tree({
  "dst": dir(),
  "dst/keep.log": file("keep\n"),
  "dst/extra.txt": file("extra\n"),
  "dst/sub/old.log": file("old\n"),
});

const FILTERED: Tree = tree({
  "src": dir(),
  "src/a.log": file("1\n"),
  "src/x/b.log": file("2\n"),
  "src/x/keep.txt": file("3\n"),
  "src/cache/big.bin": file("4\n"),
  "src/logs/important.log": file("5\n"),
});

const M = T0 + 86_400_000 + 42;
/** Compare-mode source: f and the destination's f have equal size and mtime, other bytes. */
const CMP: Tree = tree({
  "src": dir(),
  "src/f.txt": file("AAAA", { mtime: M }),
  "src/g.txt": file("new content\n", { mtime: M + 1000 }),
  "src/h.txt": file("same\n", { mtime: M + 2000 }),
});
const CMP_DST: Tree = tree({
  "dst": dir(),
  "dst/f.txt": file("BBBB", { mtime: M }),
  "dst/g.txt": file("old\n", { mtime: M + 1000 }),
  "dst/h.txt": file("same\n", { mtime: M + 2000 }),
});

/** Files of three sizes: 2 B, 6 B and 21 B. */
const SIZES: Tree = tree({
  "src": dir(),
  "src/tiny.txt": file("x\n"),
  "src/mid.txt": file("12345\n"),
  "src/big.txt": file("0123456789abcdefghij\n"),
});

/** A tree whose `sub/x` cannot be created where `sub` is immutable. */
const UNCREATABLE: Tree = tree({
  "src": dir(),
  "src/top.txt": file("top\n"),
  "src/sub/x/f1.txt": file("1\n"),
  "src/sub/x/f2.txt": file("2\n"),
  "src/sub/x/y/f3.txt": file("3\n"),
});

/** Rule and list files for `--exclude-from`, `--include-from`, `--files-from` (any route). */
const LISTS = Deno.makeTempDirSync({ prefix: "blit-conformance-lists-" });
Deno.writeTextFileSync(`${LISTS}/exclude-cache`, "# caches\ncache/\n\n");
Deno.writeTextFileSync(`${LISTS}/include-important`, "; wanted\nimportant.log\n");
Deno.writeTextFileSync(`${LISTS}/files`, "x/keep.txt\n# a comment\n/logs/\n");

const LINK_LIMIT =
  "the daemon's sandbox cannot create symlinks: a push copies everything else and reports each link as a failure";

// ---------------------------------------------------------------------------------------------
// Expectation shorthands (every count stays explicit in the rows).

/** A run that did everything: exit 0, nothing failed or skipped. */
function ok(e: Omit<Expect, "code">): Expect {
  return { code: 0, deleted: 0, removed: 0, failed: [], skipped: false, ...e };
}

/** A run that finished with exit 2. */
function partial(e: Omit<Expect, "code">): Expect {
  return { code: 2, deleted: 0, removed: 0, failed: [], skipped: false, ...e };
}

/** A refused run: exit 1, both sides untouched. */
function refused(dst: Tree): Expect {
  return { code: 1, dst };
}

// ---------------------------------------------------------------------------------------------
// The table.

const CASES: Case[] = [
  // Destination rules (rsync's trailing slash).
  {
    name: "copy SRC/ into a new DST",
    verb: "copy",
    src: BASE,
    from: "src/",
    to: "dst",
    expect: ok({
      dst: into(BASE, "dst"),
      transferred: 4,
      bytes: BASE_BYTES,
      outcome: "transferred",
    }),
  },
  {
    name: "copy SRC (no slash) into a new DST lands at DST/<name>",
    verb: "copy",
    src: BASE,
    from: "src",
    to: "dst",
    expect: ok({
      dst: merge({ "dst": NEW_DIR }, into(BASE, "dst/src")),
      transferred: 4,
      bytes: BASE_BYTES,
      outcome: "transferred",
    }),
  },
  {
    name: "copy SRC into an existing DST lands at DST/<name>",
    verb: "copy",
    src: BASE,
    dst: tree({ "dst": dir({ mode: 0o711 }) }),
    from: "src",
    to: "dst",
    expect: ok({
      dst: merge(
        patch(tree({ "dst": dir({ mode: 0o711 }) }), "dst", { mtime: FRESH }),
        into(BASE, "dst/src"),
      ),
      transferred: 4,
      bytes: BASE_BYTES,
      outcome: "transferred",
    }),
  },
  {
    name: "copy SRC into a missing DST/ lands at DST/<name>",
    verb: "copy",
    src: BASE,
    from: "src",
    to: "dst/",
    expect: ok({
      dst: merge({ "dst": NEW_DIR }, into(BASE, "dst/src")),
      transferred: 4,
      bytes: BASE_BYTES,
      outcome: "transferred",
    }),
  },
  {
    name: "copy SRC/ into an existing DST/ merges and keeps unrelated entries",
    verb: "copy",
    src: BASE,
    dst: tree({ "dst": dir({ mode: 0o711 }), "dst/keep.txt": file("keep\n") }),
    from: "src/",
    to: "dst/",
    expect: ok({
      dst: merge(tree({ "dst": dir(), "dst/keep.txt": file("keep\n") }), into(BASE, "dst")),
      transferred: 4,
      bytes: BASE_BYTES,
      outcome: "transferred",
    }),
  },
  {
    name: "copy SRC/ into a new DST under an existing nested parent",
    verb: "copy",
    src: BASE,
    dst: tree({ "deep/er": dir() }),
    from: "src/",
    to: "deep/er/dst",
    expect: ok({
      dst: merge(
        patch(tree({ "deep/er": dir() }), "deep/er", { mtime: FRESH }),
        into(BASE, "deep/er/dst"),
      ),
      transferred: 4,
      bytes: BASE_BYTES,
      outcome: "transferred",
    }),
  },
  {
    name: "copy SRC/ into a DST whose parents are missing creates them",
    verb: "copy",
    src: BASE,
    from: "src/",
    to: "new/x/dst",
    expect: ok({
      dst: merge({ "new": NEW_DIR, "new/x": NEW_DIR }, into(BASE, "new/x/dst")),
      transferred: 4,
      bytes: BASE_BYTES,
      outcome: "transferred",
    }),
  },
  {
    name: "copy a file to a new name",
    verb: "copy",
    src: BASE,
    from: "src/a.txt",
    to: "out.txt",
    expect: ok({ dst: { "out.txt": A }, transferred: 1, bytes: 6, outcome: "transferred" }),
  },
  {
    name: "copy a file into an existing directory",
    verb: "copy",
    src: BASE,
    dst: tree({ "dst": dir() }),
    from: "src/a.txt",
    to: "dst",
    expect: ok({
      dst: merge(patch(tree({ "dst": dir() }), "dst", { mtime: FRESH }), { "dst/a.txt": A }),
      transferred: 1,
      bytes: 6,
      outcome: "transferred",
    }),
  },
  {
    name: "copy a file into a missing DST/ creates the directory",
    verb: "copy",
    src: BASE,
    from: "src/a.txt",
    to: "newdir/",
    expect: ok({
      dst: { "newdir": NEW_DIR, "newdir/a.txt": A },
      transferred: 1,
      bytes: 6,
      outcome: "transferred",
    }),
  },
  {
    name: "copy a file over an older file",
    verb: "copy",
    src: BASE,
    dst: tree({ "old.txt": file("an older and longer text\n", { mtime: T0, mode: 0o600 }) }),
    from: "src/a.txt",
    to: "old.txt",
    expect: ok({ dst: { "old.txt": A }, transferred: 1, bytes: 6, outcome: "transferred" }),
  },
  {
    name: "copy a single symlink as SRC copies the link itself",
    verb: "copy",
    src: tree({ "src": dir(), "src/a.txt": file("alpha\n"), "src/ln": link("a.txt") }),
    from: "src/ln",
    to: "lnk",
    expect: ok({ dst: tree({ "lnk": link("a.txt") }), transferred: 1, outcome: "transferred" }),
    limits: {
      push: {
        reason: LINK_LIMIT,
        expect: partial({ dst: {}, transferred: 0, failed: 1, outcome: "failed" }),
      },
    },
  },
  {
    name: "copy a tree holding links copies them as links, never followed",
    verb: "copy",
    src: LINKS,
    from: "src/",
    to: "dst",
    expect: ok({ dst: into(LINKS, "dst"), transferred: 6, outcome: "transferred" }),
    limits: {
      push: {
        reason: LINK_LIMIT,
        expect: partial({
          dst: without(into(LINKS, "dst"), ...linksOf(into(LINKS, "dst"))),
          transferred: 2,
          failed: linksOf(into(LINKS, "")),
          outcome: "partial",
        }),
      },
    },
  },
  // Refusals.
  {
    name: "refuse a directory SRC onto an existing file",
    verb: "copy",
    src: BASE,
    dst: tree({ "f.txt": file("keep me\n") }),
    from: "src",
    to: "f.txt",
    expect: refused(tree({ "f.txt": file("keep me\n") })),
  },
  {
    name: "refuse SRC/ onto an existing file",
    verb: "mirror",
    src: BASE,
    dst: tree({ "f.txt": file("keep me\n") }),
    from: "src/",
    to: "f.txt",
    flags: ["--yes"],
    expect: refused(tree({ "f.txt": file("keep me\n") })),
  },
  {
    name: "refuse file/ as SRC",
    verb: "copy",
    src: BASE,
    from: "src/a.txt/",
    to: "dst",
    expect: refused({}),
  },
  {
    name: "refuse a missing SRC",
    verb: "copy",
    src: BASE,
    from: "nope",
    to: "dst",
    expect: refused({}),
  },
  // Existing destinations.
  {
    name: "copy over an older copy sends only what differs",
    verb: "copy",
    src: BASE,
    dst: OLDER,
    from: "src/",
    to: "dst",
    expect: ok({
      dst: into(BASE, "dst"),
      transferred: 2,
      bytes: sizeOf(BASE, ["src/a.txt", "src/sub/deep/c.bin"]),
      outcome: "transferred",
    }),
  },
  {
    name: "copy over older large files rebuilds them (deltas on the remote routes)",
    verb: "copy",
    src: DELTA_SRC,
    dst: DELTA_OLD,
    from: "src/",
    to: "dst",
    expect: ok({
      dst: into(DELTA_SRC, "dst"),
      transferred: 2,
      bytes: sizeOf(DELTA_SRC, ["src/inserted.bin", "src/truncated.bin"]),
      outcome: "transferred",
    }),
  },
  {
    name: "copy replaces entries of the wrong kind and never writes through a link",
    verb: "copy",
    src: KINDS,
    dst: KINDS_DST,
    from: "src/",
    to: "dst",
    expect: ok({
      dst: into(KINDS, "dst"),
      transferred: 3,
      bytes: sizeOf(KINDS, ["src/x", "src/w", "src/y/z.txt"]),
      outcome: "transferred",
    }),
  },
  {
    // How many entries replacing a non-empty directory counts is not prescribed.
    name: "mirror --yes replaces a non-empty directory by a file",
    verb: "mirror",
    src: tree({ "src": dir(), "src/x": file("x file\n") }),
    dst: tree({ "dst": dir(), "dst/x/inner.txt": file("inner\n") }),
    from: "src/",
    to: "dst",
    flags: ["--yes"],
    expect: ok({
      dst: into(tree({ "src": dir(), "src/x": file("x file\n") }), "dst"),
      transferred: 1,
      bytes: 7,
      deleted: AGREE,
      outcome: "transferred",
    }),
  },
  {
    name: "a copy rerun is up to date",
    verb: "copy",
    src: BASE,
    from: "src/",
    to: "dst",
    rerun: true,
    expect: ok({ dst: into(BASE, "dst"), transferred: 0, bytes: 0, outcome: "up_to_date" }),
  },
  {
    name: "a copy gives an existing directory the source's mode when only its mode differs",
    verb: "copy",
    src: BASE,
    dst: patch(patch(into(BASE, "dst"), "dst/sub", { mode: 0o700 }), "dst/empty", { mode: 0o755 }),
    from: "src/",
    to: "dst",
    expect: ok({ dst: into(BASE, "dst"), transferred: 0, bytes: 0, outcome: "up_to_date" }),
  },
  {
    name: "an empty source tree is source_empty",
    verb: "copy",
    src: tree({ "src": dir({ mode: 0o711 }) }),
    from: "src/",
    to: "dst",
    expect: ok({
      dst: into(tree({ "src": dir({ mode: 0o711 }) }), "dst"),
      transferred: 0,
      bytes: 0,
      outcome: "source_empty",
    }),
  },
  // Mirror: consent, incomplete scans, failed files, --max-delete, filters.
  {
    name: "mirror --yes deletes what the source lacks",
    verb: "mirror",
    src: BASE,
    dst: EXTRAS_GONE,
    from: "src/",
    to: "dst",
    flags: ["--yes"],
    expect: ok({
      dst: into(BASE, "dst"),
      transferred: 4,
      bytes: BASE_BYTES,
      deleted: 3,
      outcome: "transferred",
    }),
  },
  {
    name: "mirror without consent (no --yes, no terminal) deletes nothing",
    verb: "mirror",
    src: BASE,
    dst: EXTRAS_GONE,
    from: "src/",
    to: "dst",
    expect: partial({
      dst: merge(EXTRAS_GONE, into(BASE, "dst")),
      transferred: 4,
      bytes: BASE_BYTES,
      skipped: true,
      outcome: "transferred",
    }),
  },
  {
    name: "mirror: a FIFO in the source makes the scan incomplete, nothing is deleted",
    verb: "mirror",
    src: put(BASE, { "src/pipe": fifo() }),
    dst: EXTRAS,
    from: "src/",
    to: "dst",
    flags: ["--yes"],
    expect: partial({
      dst: merge(EXTRAS, into(BASE, "dst")),
      transferred: 4,
      bytes: BASE_BYTES,
      failed: ["pipe"],
      skipped: true,
      outcome: "partial",
    }),
  },
  {
    name: "mirror: a failed file blocks deletions",
    verb: "mirror",
    src: BASE_LOCKED,
    dst: merge(EXTRAS, pick(LOCKED_DST, "dst/locked.txt")),
    from: "src/",
    to: "dst",
    flags: ["--yes"],
    immutable: ["dst/locked.txt"],
    expect: partial({
      dst: merge(EXTRAS, pick(LOCKED_DST, "dst/locked.txt"), into(BASE, "dst")),
      transferred: 4,
      bytes: BASE_BYTES,
      failed: ["locked.txt"],
      skipped: true,
      outcome: "partial",
    }),
  },
  {
    // Reported once with a count of what was skipped under it, not one failure per entry.
    name: "a directory that cannot be created is one failure; the entries under it are skipped",
    verb: "copy",
    src: UNCREATABLE,
    dst: tree({ "dst": dir(), "dst/sub": dir() }),
    from: "src/",
    to: "dst",
    immutable: ["dst/sub"],
    expect: partial({
      dst: merge(
        pick(tree({ "dst": dir(), "dst/sub": dir() }), "dst/sub"),
        into(pick(UNCREATABLE, "src", "src/top.txt"), "dst"),
      ),
      transferred: 1,
      bytes: 4,
      failed: ["sub/x", "sub"],
      outcome: "partial",
    }),
  },
  {
    name: "mirror --max-delete above the count deletes",
    verb: "mirror",
    src: BASE,
    dst: EXTRAS,
    from: "src/",
    to: "dst",
    flags: ["--yes", "--max-delete", "3"],
    expect: ok({
      dst: into(BASE, "dst"),
      transferred: 4,
      bytes: BASE_BYTES,
      deleted: 2,
      outcome: "transferred",
    }),
  },
  {
    name: "mirror --max-delete equal to the count deletes",
    verb: "mirror",
    src: BASE,
    dst: EXTRAS,
    from: "src/",
    to: "dst",
    flags: ["--yes", "--max-delete", "2"],
    expect: ok({
      dst: into(BASE, "dst"),
      transferred: 4,
      bytes: BASE_BYTES,
      deleted: 2,
      outcome: "transferred",
    }),
  },
  {
    name: "mirror --max-delete below the count deletes nothing",
    verb: "mirror",
    src: BASE,
    dst: EXTRAS,
    from: "src/",
    to: "dst",
    flags: ["--yes", "--max-delete", "1"],
    expect: partial({
      dst: merge(EXTRAS, into(BASE, "dst")),
      transferred: 4,
      bytes: BASE_BYTES,
      skipped: true,
      outcome: "transferred",
    }),
  },
  {
    name: "mirror --max-delete 0 refuses every deletion",
    verb: "mirror",
    src: BASE,
    dst: EXTRAS,
    from: "src/",
    to: "dst",
    flags: ["--yes", "--max-delete", "0"],
    expect: partial({
      dst: merge(EXTRAS, into(BASE, "dst")),
      transferred: 4,
      bytes: BASE_BYTES,
      skipped: true,
      outcome: "transferred",
    }),
  },
  {
    name: "mirror --max-delete with a negative number is a usage error",
    verb: "mirror",
    src: BASE,
    dst: EXTRAS,
    from: "src/",
    to: "dst",
    flags: ["--yes", "--max-delete=-1"],
    expect: refused(EXTRAS),
  },
  {
    name: "mirror --exclude never deletes excluded destination entries",
    verb: "mirror",
    src: LOGS,
    dst: LOGS_DST,
    from: "src/",
    to: "dst",
    flags: ["--exclude", "*.log", "--yes"],
    expect: ok({
      dst: merge(without(LOGS_DST, "dst/extra.txt"), without(into(LOGS, "dst"), "dst/x.log")),
      transferred: 2,
      bytes: 4,
      deleted: 1,
      outcome: "transferred",
    }),
  },
  {
    name: "a mirror rerun is up to date",
    verb: "mirror",
    src: BASE,
    dst: EXTRAS,
    from: "src/",
    to: "dst",
    flags: ["--yes"],
    rerun: true,
    expect: ok({ dst: into(BASE, "dst"), transferred: 0, bytes: 0, outcome: "up_to_date" }),
  },
  {
    name: "copy --include/--exclude: first match wins, excluded directories skipped",
    verb: "copy",
    src: FILTERED,
    from: "src/",
    to: "dst",
    flags: ["--exclude", "cache/", "--include", "important.log", "--exclude", "*.log"],
    expect: ok({
      dst: without(into(FILTERED, "dst"), "dst/a.log", "dst/x/b.log", "dst/cache"),
      transferred: 2,
      bytes: 4,
      outcome: "transferred",
    }),
  },
  // Compare modes.
  {
    name: "compare by size+mtime (default) skips an equal-looking file",
    verb: "copy",
    src: CMP,
    dst: CMP_DST,
    from: "src/",
    to: "dst",
    expect: ok({
      dst: merge(into(CMP, "dst"), pick(CMP_DST, "dst/f.txt")),
      transferred: 1,
      bytes: 12,
      outcome: "transferred",
    }),
  },
  {
    // h.txt: same bytes, other mtime; whether its mtime is then corrected is not prescribed.
    name: "compare by --checksum sends differing digests only",
    verb: "copy",
    src: CMP,
    dst: patch(CMP_DST, "dst/h.txt", { mtime: M + 9000 }),
    from: "src/",
    to: "dst",
    flags: ["--checksum"],
    expect: ok({
      dst: patch(into(CMP, "dst"), "dst/h.txt", { mtime: AGREE }),
      transferred: 2,
      bytes: 16,
      outcome: "transferred",
    }),
  },
  {
    name: "compare by --size-only skips a file whose mtime alone differs",
    verb: "copy",
    src: CMP,
    dst: patch(CMP_DST, "dst/f.txt", { mtime: M + 5000 }),
    from: "src/",
    to: "dst",
    flags: ["--size-only"],
    expect: ok({
      dst: merge(
        into(CMP, "dst"),
        patch(pick(CMP_DST, "dst/f.txt"), "dst/f.txt", { mtime: AGREE }),
      ),
      transferred: 1,
      bytes: 12,
      outcome: "transferred",
    }),
  },
  {
    name: "compare with -I (--ignore-times) sends everything",
    verb: "copy",
    src: CMP,
    dst: CMP_DST,
    from: "src/",
    to: "dst",
    flags: ["-I"],
    expect: ok({ dst: into(CMP, "dst"), transferred: 3, bytes: 21, outcome: "transferred" }),
  },
  {
    name: "compare with --ignore-existing never overwrites",
    verb: "copy",
    src: put(CMP, { "src/new.txt": file("brand new\n") }),
    dst: CMP_DST,
    from: "src/",
    to: "dst",
    flags: ["--ignore-existing"],
    expect: ok({
      dst: merge(
        into(put(CMP, { "src/new.txt": file("brand new\n") }), "dst"),
        pick(CMP_DST, "dst/f.txt", "dst/g.txt"),
      ),
      transferred: 1,
      bytes: 10,
      outcome: "transferred",
    }),
  },
  {
    name: "copy -u (--update) leaves destination files newer than the source's alone",
    verb: "copy",
    src: CMP,
    dst: patch(patch(CMP_DST, "dst/f.txt", { mtime: M - 5000 }), "dst/g.txt", { mtime: M + 9000 }),
    from: "src/",
    to: "dst",
    flags: ["-u"],
    expect: ok({
      dst: merge(
        into(CMP, "dst"),
        patch(pick(CMP_DST, "dst/g.txt"), "dst/g.txt", { mtime: M + 9000 }),
      ),
      transferred: 1,
      bytes: 4,
      outcome: "transferred",
    }),
  },
  {
    name: "copy --min-size/--max-size send only the files inside the range",
    verb: "copy",
    src: SIZES,
    from: "src/",
    to: "dst",
    flags: ["--min-size", "3", "--max-size=10"],
    expect: ok({
      dst: without(into(SIZES, "dst"), "dst/tiny.txt", "dst/big.txt"),
      transferred: 1,
      bytes: 6,
      outcome: "transferred",
    }),
  },
  {
    name: "mirror --max-size keeps the destination's copy of a file it leaves alone",
    verb: "mirror",
    src: SIZES,
    dst: tree({ "dst": dir(), "dst/big.txt": file("old big\n"), "dst/extra.txt": file("extra\n") }),
    from: "src/",
    to: "dst",
    flags: ["--max-size", "10", "--yes"],
    expect: ok({
      dst: merge(
        without(into(SIZES, "dst"), "dst/big.txt"),
        { "dst/big.txt": file("old big\n") as Want },
      ),
      transferred: 2,
      bytes: 8,
      deleted: 1,
      outcome: "transferred",
    }),
  },
  {
    name: "mirror --delete-excluded deletes excluded destination entries too",
    verb: "mirror",
    src: LOGS,
    dst: LOGS_DST,
    from: "src/",
    to: "dst",
    flags: ["--exclude", "*.log", "--delete-excluded", "--yes"],
    expect: ok({
      dst: merge(
        pick(LOGS_DST, "dst", "dst/sub"),
        without(into(LOGS, "dst"), "dst/x.log"),
      ),
      transferred: 2,
      bytes: 4,
      deleted: 3,
      outcome: "transferred",
    }),
  },
  {
    name: "copy --delete deletes what the source lacks, as mirror does",
    verb: "copy",
    src: BASE,
    dst: EXTRAS_GONE,
    from: "src/",
    to: "dst",
    flags: ["--delete", "--yes"],
    expect: ok({
      dst: into(BASE, "dst"),
      transferred: 4,
      bytes: BASE_BYTES,
      deleted: 3,
      outcome: "transferred",
    }),
  },
  {
    name: "move --delete is a usage error",
    verb: "move",
    src: BASE,
    from: "src/",
    to: "dst",
    flags: ["--delete"],
    expect: refused({}),
  },
  {
    name: "copy --exclude-from/--include-from read rules from files, in command-line order",
    verb: "copy",
    src: FILTERED,
    from: "src/",
    to: "dst",
    flags: [
      "--exclude-from",
      `${LISTS}/exclude-cache`,
      `--include-from=${LISTS}/include-important`,
      "--exclude",
      "*.log",
    ],
    expect: ok({
      dst: without(into(FILTERED, "dst"), "dst/a.log", "dst/x/b.log", "dst/cache"),
      transferred: 2,
      bytes: 4,
      outcome: "transferred",
    }),
  },
  {
    name: "copy --files-from sends the listed paths (and what is under a listed directory) only",
    verb: "copy",
    src: FILTERED,
    from: "src/",
    to: "dst",
    flags: ["--files-from", `${LISTS}/files`],
    expect: ok({
      dst: into(
        pick(FILTERED, "src", "src/x", "src/x/keep.txt", "src/logs", "src/logs/important.log"),
        "dst",
      ),
      transferred: 2,
      bytes: 4,
      outcome: "transferred",
    }),
  },
  {
    name: "copy -avzhP: rsync's habitual flags are accepted (-h inside a group is not help)",
    verb: "copy",
    src: BASE,
    from: "src/",
    to: "dst",
    flags: ["-avzhP"],
    expect: ok({
      dst: into(BASE, "dst"),
      transferred: 4,
      bytes: BASE_BYTES,
      outcome: "transferred",
    }),
  },
  // Move.
  {
    name: "move a tree removes the source tree",
    verb: "move",
    src: BASE,
    from: "src",
    to: "dst",
    expect: ok({
      dst: merge({ "dst": NEW_DIR }, into(BASE, "dst/src")),
      src: {},
      transferred: 4,
      bytes: BASE_BYTES,
      removed: 4,
      outcome: "transferred",
    }),
  },
  {
    name: "move SRC/ keeps the emptied source root",
    verb: "move",
    src: BASE,
    from: "src/",
    to: "dst",
    expect: ok({
      dst: into(BASE, "dst"),
      src: patch(pick(BASE, "src"), "src", { mtime: FRESH }),
      transferred: 4,
      bytes: BASE_BYTES,
      removed: 4,
      outcome: "transferred",
    }),
  },
  {
    name: "move a single file",
    verb: "move",
    src: BASE,
    from: "src/a.txt",
    to: "moved.txt",
    expect: ok({
      dst: { "moved.txt": A },
      src: patch(without(BASE, "src/a.txt"), "src", { mtime: FRESH }),
      transferred: 1,
      bytes: 6,
      removed: 1,
      outcome: "transferred",
    }),
  },
  {
    name: "move keeps the source of a file that failed",
    verb: "move",
    src: BASE_LOCKED,
    dst: LOCKED_DST,
    from: "src/",
    to: "dst",
    immutable: ["dst/locked.txt"],
    expect: partial({
      dst: merge(LOCKED_DST, into(BASE, "dst")),
      src: patch(pick(BASE_LOCKED, "src", "src/locked.txt"), "src", { mtime: FRESH }),
      transferred: 4,
      bytes: BASE_BYTES,
      removed: 4,
      failed: ["locked.txt"],
      outcome: "partial",
    }),
  },
  // Per-file failures.
  {
    name: "copy with a failed file is partial",
    verb: "copy",
    src: BASE_LOCKED,
    dst: LOCKED_DST,
    from: "src/",
    to: "dst",
    immutable: ["dst/locked.txt"],
    expect: partial({
      dst: merge(LOCKED_DST, into(BASE, "dst")),
      transferred: 4,
      bytes: BASE_BYTES,
      failed: ["locked.txt"],
      outcome: "partial",
    }),
  },
  {
    name: "copy where every file fails is failed",
    verb: "copy",
    src: pick(BASE_LOCKED, "src", "src/locked.txt"),
    dst: LOCKED_DST,
    from: "src/",
    to: "dst",
    immutable: ["dst/locked.txt"],
    expect: partial({
      dst: merge(LOCKED_DST, into(pick(BASE_LOCKED, "src"), "dst")),
      transferred: 0,
      bytes: 0,
      failed: ["locked.txt"],
      outcome: "failed",
    }),
  },
  // Dry runs: nothing changes, the counts are the real run's.
  {
    name: "dry-run copy",
    verb: "copy",
    src: BASE,
    dst: OLDER,
    from: "src/",
    to: "dst",
    flags: ["-n"],
    expect: ok({
      dst: OLDER,
      transferred: 2,
      bytes: sizeOf(BASE, ["src/a.txt", "src/sub/deep/c.bin"]),
      outcome: "transferred",
    }),
  },
  {
    name: "dry-run mirror",
    verb: "mirror",
    src: BASE,
    dst: EXTRAS_GONE,
    from: "src/",
    to: "dst",
    flags: ["-n", "--yes"],
    expect: ok({
      dst: EXTRAS_GONE,
      transferred: 4,
      bytes: BASE_BYTES,
      deleted: 3,
      outcome: "transferred",
    }),
  },
  {
    name: "dry-run move",
    verb: "move",
    src: BASE,
    from: "src",
    to: "dst",
    flags: ["--dry-run"],
    expect: ok({ dst: {}, transferred: 4, bytes: BASE_BYTES, removed: 4, outcome: "transferred" }),
  },
  // Setuid, setgid and sticky bits (issue #11): the receiving peer drops them unless it keeps them.
  {
    name: "special bits: a daemon module and a pulling client drop setuid, setgid and sticky",
    verb: "copy",
    src: SPECIAL,
    from: "src/",
    to: "dst",
    expect: ok({
      dst: into(masked(SPECIAL), "dst"),
      transferred: 4,
      bytes: sizeOf(SPECIAL, SPECIAL_FILES),
      outcome: "transferred",
    }),
    limits: {
      local: {
        reason: "a local copy keeps setuid, setgid and sticky bits, as rsync -a does",
        expect: ok({
          dst: into(SPECIAL, "dst"),
          transferred: 4,
          bytes: sizeOf(SPECIAL, SPECIAL_FILES),
          outcome: "transferred",
        }),
      },
    },
  },
  {
    name: "special bits kept: locally, by --keep-special-bits (pull), by keep_special_bits (push)",
    verb: "copy",
    src: SPECIAL,
    from: "src/",
    to: "dst",
    routeFlags: { pull: ["--keep-special-bits"] },
    module: "keep",
    expect: ok({
      dst: into(SPECIAL, "dst"),
      transferred: 4,
      bytes: sizeOf(SPECIAL, SPECIAL_FILES),
      outcome: "transferred",
    }),
  },
];

// ---------------------------------------------------------------------------------------------
// The runner.

const ROUTES: readonly Route[] = ["local", "push", "pull"];

/** Keys the README documents for `--json`. */
const DOCUMENTED_KEYS = [
  "operation",
  "source",
  "destination",
  "files_examined",
  "files_transferred",
  "bytes_transferred",
  "entries_deleted",
  "sources_removed",
  "files_failed",
  "failures",
  "failures_truncated",
  "deletions_skipped_reason",
  "duration_ms",
  "dry_run",
  "outcome",
];

/** Summary fields every route must report alike. */
const AGREED_FIELDS = [
  "files_examined",
  "files_transferred",
  "bytes_transferred",
  "entries_deleted",
  "sources_removed",
  "files_failed",
  "outcome",
  "dry_run",
  "deletions_skipped_reason",
] as const;

/** The parts of the `--json` summary the checks read. */
interface Summary {
  [key: string]: unknown;
  operation: unknown;
  files_examined: unknown;
  files_transferred: unknown;
  bytes_transferred: unknown;
  entries_deleted: unknown;
  sources_removed: unknown;
  files_failed: unknown;
  failures: { path: string }[];
  failures_truncated: unknown;
  deletions_skipped_reason: unknown;
  dry_run: unknown;
  outcome: unknown;
}

/** Shared state of the file's runs. */
interface Context {
  /** Local side of every case. */
  local: string;
  /** The module's directory. */
  module: string;
  /** The directory of the module `k` (`keep_special_bits = true`). */
  keepModule: string;
  /** `127.0.0.1:PORT`. */
  address: string;
  /** Files currently immutable (made mutable again after each run and at the end). */
  immutable: Set<string>;
}

/** Where one case runs on one route. */
interface Endpoints {
  /** Working directory of the CLI. */
  cwd: string;
  /** The source side on disk. */
  srcBase: string;
  /** The destination side on disk. */
  dstBase: string;
  /** SRC as typed. */
  src: string;
  /** DST as typed. */
  dst: string;
}

/** What one route produced. */
interface RouteRecord {
  route: Route;
  limited: boolean;
  expect: Expect;
  code: number;
  summary: Summary | null;
  stderr: string;
  dstFound: FoundTree;
  srcFound: FoundTree;
}

function endpoints(ctx: Context, id: string, route: Route, c: Case): Endpoints {
  const localDir = `${ctx.local}/${id}-${route}`;
  const [name, root] = c.module === "keep" ? ["k", ctx.keepModule] : ["m", ctx.module];
  const moduleDir = `${root}/${id}-${route}`;
  const remote = (path: string): string => `${ctx.address}:/${name}/${id}-${route}/${path}`;
  const local = { cwd: localDir, srcBase: `${localDir}/s`, dstBase: `${localDir}/d` };
  switch (route) {
    case "local":
      return { ...local, src: `s/${c.from}`, dst: `d/${c.to}` };
    case "push":
      return { ...local, dstBase: `${moduleDir}/d`, src: `s/${c.from}`, dst: remote(`d/${c.to}`) };
    case "pull":
      return { ...local, srcBase: `${moduleDir}/s`, src: remote(`s/${c.from}`), dst: `d/${c.to}` };
  }
}

function isDryRun(flags: readonly string[]): boolean {
  return flags.includes("-n") || flags.includes("--dry-run");
}

function parseSummary(stdout: string): Summary | null {
  const line = stdout.trim().split("\n").reverse().find((l) => l.trimStart().startsWith("{"));
  if (!line) return null;
  try {
    return JSON.parse(line) as Summary;
  } catch {
    return null;
  }
}

function failurePaths(summary: Summary): string[] {
  return Array.isArray(summary.failures) ? summary.failures.map((f) => String(f.path)).sort() : [];
}

function replaceAll(text: string, find: string, by: string): string {
  return find === "" ? text : text.split(find).join(by);
}

/** stderr with SRC and DST as typed replaced by placeholders (the longer one first). */
function normalizeStderr(stderr: string, ep: Endpoints): string {
  const pairs: [string, string][] = [[ep.src, "<SRC>"], [ep.dst, "<DST>"]];
  pairs.sort((a, b) => b[0].length - a[0].length);
  let out = stderr.trim();
  for (const [find, by] of pairs) out = replaceAll(out, find, by);
  return out;
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? "undefined";
}

/** Checks a summary against an expectation; returns the differences. */
function checkSummary(c: Case, e: Expect, s: Summary): string[] {
  const out: string[] = [];
  const want = (field: string, got: unknown, expected: unknown): void => {
    if (got !== expected) out.push(`${field} is ${show(got)}, want ${show(expected)}`);
  };
  const missing = DOCUMENTED_KEYS.filter((k) => !(k in s));
  if (missing.length > 0) out.push(`summary lacks documented keys: ${missing.join(", ")}`);
  // `copy --delete` runs (and reports) a mirror.
  want("operation", s.operation, c.flags?.includes("--delete") ? "mirror" : c.verb);
  want("dry_run", s.dry_run, isDryRun(c.flags ?? []));
  want("files_transferred", s.files_transferred, e.transferred);
  if (e.bytes !== undefined) want("bytes_transferred", s.bytes_transferred, e.bytes);
  if (typeof e.deleted === "number") want("entries_deleted", s.entries_deleted, e.deleted);
  want("sources_removed", s.sources_removed, e.removed);
  want("outcome", s.outcome, e.outcome);
  const reason = s.deletions_skipped_reason;
  if (e.skipped === true && (typeof reason !== "string" || reason === "")) {
    out.push(`deletions_skipped_reason is ${show(reason)}, want a reason`);
  } else if (e.skipped === false && reason !== null) {
    out.push(`deletions_skipped_reason is ${show(reason)}, want null`);
  }
  const paths = failurePaths(s);
  if (typeof e.failed === "number") {
    want("files_failed", s.files_failed, e.failed);
  } else if (e.failed) {
    want("files_failed", s.files_failed, e.failed.length);
    const expected = [...e.failed].sort();
    if (show(paths) !== show(expected)) {
      out.push(`failure paths are ${show(paths)}, want ${show(expected)}`);
    }
  }
  if (s.failures_truncated === false && paths.length !== s.files_failed) {
    out.push(`failures lists ${paths.length} entries but files_failed is ${show(s.files_failed)}`);
  }
  if (out.length > 0 && Array.isArray(s.failures) && s.failures.length > 0) {
    out.push(`(failures: ${show(s.failures)})`);
  }
  return out;
}

/** Tree differences shown per side before the rest is only counted. */
const MAX_TREE_LINES = 12;

/** Prefixes tree differences and keeps the first {@linkcode MAX_TREE_LINES}. */
function capped(prefix: string, lines: string[]): string[] {
  const shown = lines.slice(0, MAX_TREE_LINES).map((line) => `${prefix}${line}`);
  if (lines.length > MAX_TREE_LINES) {
    shown.push(`${prefix}… and ${lines.length - MAX_TREE_LINES} more differences`);
  }
  return shown;
}

/** Runs one case on one route and checks it against its expectation. */
async function runRoute(
  ctx: Context,
  c: Case,
  id: string,
  route: Route,
  records: RouteRecord[],
): Promise<void> {
  const limit = c.limits?.[route];
  const e = limit?.expect ?? c.expect;
  const ep = endpoints(ctx, id, route, c);
  await Deno.mkdir(ep.cwd, { recursive: true });
  await buildTree(ep.srcBase, c.src);
  await buildTree(ep.dstBase, c.dst ?? {});
  const srcBefore = await readFound(ep.srcBase);
  const flags = [...(c.flags ?? []), ...(c.routeFlags?.[route] ?? [])];
  const argv = [c.verb, ep.src, ep.dst, ...flags, "--json", "--no-history"];
  const problems: string[] = [];
  const start = Date.now();
  let result: Awaited<ReturnType<typeof runCli>>;
  try {
    for (const path of c.immutable ?? []) {
      await sh("chattr", ["+i", `${ep.dstBase}/${path}`]);
      ctx.immutable.add(`${ep.dstBase}/${path}`);
    }
    if (c.rerun) {
      const first = await runCli(argv, ep.cwd);
      if (first.code !== 0) {
        problems.push(
          `the first run (before the checked rerun) exited ${first.code}: ${
            first.stderr.trim().split("\n")[0]
          }`,
        );
      }
    }
    const ctimes = c.rerun ? await readChangeTimes(ep.dstBase) : null;
    result = await runCli(argv, ep.cwd);
    if (ctimes !== null) {
      const changed = changedEntries(ctimes, await readChangeTimes(ep.dstBase));
      if (changed.length > 0) problems.push(`the rerun changed ${changed.join(", ")} (ctime)`);
    }
  } finally {
    for (const path of c.immutable ?? []) {
      await sh("chattr", ["-i", `${ep.dstBase}/${path}`]).catch(() => {});
      ctx.immutable.delete(`${ep.dstBase}/${path}`);
    }
  }
  const window = { start, end: Date.now() };
  const summary = parseSummary(result.stdout);
  const stderr = normalizeStderr(result.stderr, ep);
  if (result.timedOut) problems.push("the run did not finish within the deadline and was stopped");
  if (result.code !== e.code) {
    problems.push(`exit code ${result.code}, want ${e.code}`);
  }
  try {
    assertNoStack(result.stderr);
  } catch {
    problems.push("stderr holds a stack trace");
  }
  if (e.code === 1) {
    const lines = result.stderr.trim().split("\n").filter((l) => l.trim() !== "");
    if (lines.length !== 1) problems.push(`a refusal must print one line, got ${lines.length}`);
  } else if (!summary) {
    problems.push("no --json summary on stdout");
  } else {
    problems.push(...checkSummary(c, e, summary));
  }
  const dstFound = await readFound(ep.dstBase);
  const srcFound = await readFound(ep.srcBase);
  problems.push(...capped("destination: ", diffTree(e.dst, dstFound, window)));
  problems.push(
    ...(e.src
      ? capped("source: ", diffTree(e.src, srcFound, window))
      : capped("source changed: ", diffFound(srcBefore, srcFound, {}))),
  );
  records.push({
    route,
    limited: limit !== undefined,
    expect: e,
    code: result.code,
    summary,
    stderr,
    dstFound,
    srcFound,
  });
  if (problems.length > 0) {
    throw new Error(
      [
        `${c.name} [${route}${
          limit ? ` — route limit: ${limit.reason}` : ""
        }]: ${problems.length} problem(s)`,
        ...problems.map((p) => `  - ${p}`),
        `  command (cwd ${ep.cwd}): blit ${argv.join(" ")}`,
        `  exit ${result.code}; stderr: ${result.stderr.trim() || "(empty)"}`,
        `  stdout: ${result.stdout.trim() || "(empty)"}`,
      ].join("\n"),
    );
  }
}

/** Checks that the routes of one case agree; returns the differences. */
function disagreements(c: Case, records: RouteRecord[]): string[] {
  const out: string[] = [];
  const keysOf = (r: RouteRecord): string =>
    r.summary ? Object.keys(r.summary).sort().join(",") : "(no summary)";
  const withSummary = records.filter((r) => r.summary);
  if (new Set(withSummary.map(keysOf)).size > 1) {
    out.push(`summary keys: ${withSummary.map((r) => `${r.route}=[${keysOf(r)}]`).join("; ")}`);
  }
  const common = records.filter((r) => !r.limited);
  if (common.length < 2) return out;
  const field = (name: string, value: (r: RouteRecord) => unknown): void => {
    const shown = common.map((r) => show(value(r)));
    if (new Set(shown).size > 1) {
      out.push(`${name}: ${common.map((r, i) => `${r.route}=${shown[i]}`).join(", ")}`);
    }
  };
  field("exit code", (r) => r.code);
  if (c.expect.code === 1) field("stderr (<SRC>/<DST> replaced)", (r) => r.stderr);
  else {
    for (const name of AGREED_FIELDS) field(name, (r) => r.summary?.[name]);
    field("failure paths", (r) => (r.summary ? failurePaths(r.summary) : null));
  }
  const [first, ...rest] = common as [RouteRecord, ...RouteRecord[]];
  for (const other of rest) {
    const vs = `${first.route} vs ${other.route}: `;
    out.push(
      ...capped(`destination, ${vs}`, diffFound(first.dstFound, other.dstFound, c.expect.dst)),
    );
    out.push(
      ...capped(`source, ${vs}`, diffFound(first.srcFound, other.srcFound, c.expect.src ?? {})),
    );
  }
  return out;
}

/** Rejects rows whose expectation leaves a counter out (every count is explicit). */
function validateTable(cases: Case[]): void {
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate case name: ${c.name}`);
    names.add(c.name);
    const expectations = [c.expect, ...Object.values(c.limits ?? {}).map((l) => l.expect)];
    for (const e of expectations) {
      if (e.code === 1) continue;
      const absent =
        (["transferred", "deleted", "removed", "failed", "outcome", "skipped"] as const)
          .filter((k) => e[k] === undefined);
      if (absent.length > 0) throw new Error(`${c.name}: expectation lacks ${absent.join(", ")}`);
    }
  }
  if (cases.length < 30) throw new Error(`the table has ${cases.length} cases, want at least 30`);
}

function hasFifo(t: Tree): boolean {
  return Object.values(t).some((w) => w.kind === "fifo");
}

Deno.test({
  name: "conformance: local, push and pull follow one behaviour",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    validateTable(CASES);
    const root = await Deno.makeTempDir({ prefix: "blit-conformance-" });
    const ctx: Context = {
      local: `${root}/local`,
      module: `${root}/module`,
      keepModule: `${root}/module-keep`,
      address: "",
      immutable: new Set(),
    };
    await Deno.mkdir(ctx.local);
    await Deno.mkdir(ctx.module);
    await Deno.mkdir(ctx.keepModule);
    const chattr = await chattrProblem(root);
    const mkfifo: string | null = await sh("mkfifo", [`${root}/fifo-probe`]).then(
      () => null,
      (error) => `mkfifo is not available: ${error instanceof Error ? error.message : error}`,
    );
    let daemon: TestDaemon;
    try {
      daemon = await startDaemon(root, [
        { name: "m", path: ctx.module },
        { name: "k", path: ctx.keepModule, keepSpecialBits: true },
      ]);
    } catch (error) {
      await Deno.remove(root, { recursive: true }).catch(() => {});
      throw error;
    }
    ctx.address = daemon.address;
    try {
      for (const [index, c] of CASES.entries()) {
        const id = `c${String(index + 1).padStart(2, "0")}`;
        const skip = (c.immutable?.length ? chattr : null) ??
          (hasFifo(c.src) || hasFifo(c.dst ?? {}) ? mkfifo : null);
        if (skip) console.log(`skipped "${c.name}": ${skip}`);
        await t.step({
          name: `${id} ${c.name}`,
          ignore: skip !== null,
          fn: async (t) => {
            const records: RouteRecord[] = [];
            for (const route of ROUTES) {
              await t.step(route, () => runRoute(ctx, c, id, route, records));
            }
            await t.step("routes agree", () => {
              const found = disagreements(c, records);
              if (found.length > 0) {
                throw new Error(
                  [
                    `${c.name}: the routes disagree (${
                      records.map((r) => r.route).join(", ")
                    } ran)`,
                    ...found.map((line) => `  - ${line}`),
                  ].join("\n"),
                );
              }
            });
          },
        });
      }
      if (!daemon.running()) throw new Error(`blitd died during the run:\n${daemon.log()}`);
    } finally {
      await daemon.stop();
      for (const path of ctx.immutable) await sh("chattr", ["-i", path]).catch(() => {});
      await Deno.remove(root, { recursive: true }).catch(() => {});
      await Deno.remove(LISTS, { recursive: true }).catch(() => {});
    }
  },
});
