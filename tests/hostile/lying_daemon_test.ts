/**
 * Issue #11 item 4, one direction: a table of lies a hostile DAEMON tells the real CLI. The
 * daemon is a fake (`_fake_daemon.ts`: a grpc-js server in this process that accepts any Open);
 * the CLI is the real `blit`, run as the task runs it.
 *
 * Pulls (`blit copy HOST:/m/x DST/` and `blit mirror HOST:/m/x/ DST --yes`, the daemon is the
 * SOURCE): entry paths with NUL, control characters, a backslash, absolute, with `.` or `..`,
 * over-long names and paths, too deep; root names that are not names; duplicate entries and
 * ids; entries the user excluded; size lies both ways; chunks for ids never announced or never
 * needed, twice, too big, at absurd offsets or with gaps; frames out of order or of a kind the
 * CLI never expects; huge counts; texts that would drive a terminal; a daemon whose call ends,
 * whose connection is cut mid-frame, or whose process is killed mid-file.
 *
 * Pushes (`blit copy SRC/ HOST:/m/t/` and `blit mirror SRC/ HOST:/m/t/ --yes`, the daemon is the
 * DESTINATION): needs for ids or paths the source never sent, outside it, of directories;
 * checksum requests and file reports that do not belong; consent requests outside the transfer,
 * too long, or in a copy.
 *
 * What must hold for every row: the exit code the row states — 1 with exactly one line on
 * stderr naming the problem, 2 with the failed file named, or 0 where the row is harmless (each
 * says why) — no stack trace, nothing a terminal would take as a control sequence in any output,
 * nothing written, changed or deleted outside the destination (a file watcher sees even a
 * temporary made and removed again; a snapshot compares bytes and metadata), no temporary and
 * no partial file left in the destination, and the CLI finishing within its deadline.
 *
 * The entries under a symlink sent earlier and the links planted in the destination are in
 * `links_test.ts`; deep chains of real directories in `deep_tree_test.ts`.
 *
 * @module
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { EntryKind as WireKind } from "../../proto/gen/blit_pb.ts";
import { CHUNK_BYTES, type Frame, type ManifestItem } from "../../core/session/frames.ts";
import { PROTOCOL_VERSION } from "../../core/transport/grpc_service.ts";
import { inspectTemporaryAt } from "../../core/tree.ts";
import {
  assertNoStack,
  makeTree,
  readTree,
  REPO,
  type RunResult,
  spawnBlit,
  withTempDir,
} from "../_helpers.ts";
import {
  assertPrintable,
  assertRefused,
  blit,
  type DestinationLie,
  dirItem,
  type FakeDaemon,
  fileItem,
  group,
  type Lie,
  linkItem,
  playDestination,
  rawRoot,
  root,
  shape,
  snapshotOutside,
  startFakeDaemon,
  type Step,
  T,
  WAIT_MS,
  watchChanges,
  within,
} from "./_fake_daemon.ts";

/** Longest run of the CLI against one lie (it is killed, and the row fails, after it). */
const DEADLINE_MS = 30_000;

const encoder = new TextEncoder();

/** 2^64 - 1, the largest uint64 a frame can carry. */
const U64_MAX = (1n << 64n) - 1n;

/** What a pull's target held before the run. */
const KEEP = { "keep.txt": "file:already here" };

/** What a row expects of the CLI. */
type Expect =
  /** Exit 1, one line on stderr matching. */
  | { refused: RegExp }
  /** Exit 2: the run finished, the files named on stderr failed. */
  | { failed: RegExp; why: string }
  /** Exit 0: the lie is harmless, for the reason given. */
  | { ok: string };

/** Where a pull lands and what the lie may depend on. */
interface PullContext {
  /** The outside directory's absolute path. */
  victim: string;
  /** Only the root's contents travel (mirror `HOST:/m/x/`). */
  contentsOnly: boolean;
}

/** One lie a daemon tells a pulling CLI. */
interface PullRow {
  /** The lie, in a few words. */
  name: string;
  /**
   * The lie: what the fake source says, or a whole session script (given the fake daemon it
   * runs on, for the rows that cut or drop its connections).
   */
  lie: (c: PullContext) => Lie | ((fake: FakeDaemon) => (port: PeerPortOf) => Promise<unknown>);
  /** The verbs to run it with (default copy only: mirror where it adds a placement or deletion). */
  verbs?: ("copy" | "mirror")[];
  /** Extra CLI flags. */
  args?: string[];
  /** What the CLI must do. */
  expect: Expect;
  /** What the target holds afterwards besides `keep.txt` (relative, {@linkcode shape} form). */
  holds?: Record<string, string>;
  /** What the target may hold too, whole (a file that landed before the lie came). */
  mayHold?: Record<string, string>;
  /** Mirror deletes `keep.txt` (default: only when the run succeeds). */
  mirrorDeletes?: boolean;
  /** Runs against a fake daemon of its own (it cuts or drops connections). */
  ownDaemon?: boolean;
}

/** The fake daemon's end of a call. */
type PeerPortOf = Parameters<NonNullable<FakeDaemon["script"]>>[0];

/** A directory root (contents only for mirror) with one file at `path`. */
function oneFile(path: string, content = "daemon data"): (c: PullContext) => Lie {
  return (c) => ({
    steps: [root("x", c.contentsOnly), group("", fileItem(1, path, content))],
    payload: { 1: content },
  });
}

/** A root, one group of `entries`, and the payload by id. */
function oneGroup(
  entries: ManifestItem[],
  payload: Record<number, string | Uint8Array> = {},
  more: Partial<Lie> = {},
): (c: PullContext) => Lie {
  return (c) => ({
    steps: [root("x", c.contentsOnly), group("", ...entries)],
    payload,
    ...more,
  });
}

/** A raw manifest entry (sizes the engine cannot build). */
function rawFile(id: number, path: string, size: bigint): Step {
  return {
    raw: {
      case: "manifestBatch",
      value: {
        groups: [{
          dir: "",
          complete: true,
          entries: [{
            id,
            path,
            kind: WireKind.FILE,
            size,
            mtimeNs: BigInt(T) * 1_000_000n,
            mode: 0o644,
          }],
        }],
      },
    },
  };
}

/** A file of `size` bytes that is `size` bytes of `a`. */
function bigFile(id: number, path: string, size: number): ManifestItem {
  return { id, path, kind: "file", size, mtimeMs: T, mode: 0o644 };
}

/** `n` bytes. */
function bytes(n: number): Uint8Array {
  return new Uint8Array(n).fill(0x61);
}

/** Waits for the destination's first `needs` frame (script helper). */
async function firstNeeds(port: PeerPortOf): Promise<boolean> {
  while (true) {
    const frame: Frame | null = await port.next(WAIT_MS);
    if (frame === null || frame.type === "abort") return false;
    if (frame.type === "needs") return true;
  }
}

/** Root, one big file `f`, the manifest's end; then waits for the need. */
async function startBigFile(port: PeerPortOf, size: number): Promise<boolean> {
  await port.send(root("x", false));
  await port.send(group("", bigFile(1, "f", size)));
  await port.send({ type: "manifestEnd", scanComplete: true, entries: 1, bytes: size });
  return await firstNeeds(port);
}

const PULL_ROWS: PullRow[] = [
  // An honest source first: the harness itself must let a good run through.
  {
    name: "an honest source (the baseline)",
    verbs: ["copy", "mirror"],
    lie: oneGroup([fileItem(1, "f", "daemon data"), dirItem(2, "d")], { 1: "daemon data" }),
    expect: { ok: "nothing is wrong" },
    holds: { "f": "file:daemon data", "d": "dir" },
  },
  // Paths.
  {
    name: "an entry path with NUL",
    lie: oneFile("a\0b"),
    expect: { refused: /Cannot use path "a\\u0000b": it contains a NUL character/ },
  },
  {
    name: "an entry path with ESC (a terminal escape)",
    verbs: ["copy", "mirror"],
    lie: oneFile("a\x1b[31mred"),
    expect: {
      ok: "a control character is a legal file name byte (rsync keeps it too): the file lands " +
        "inside the destination under its exact name, and every line printed escapes it",
    },
    holds: { "a\x1b[31mred": "file:daemon data" },
  },
  {
    name: "an entry path with a newline",
    lie: oneFile("a\nb"),
    expect: { ok: "as ESC: a legal name, printed escaped (one line per event)" },
    holds: { "a\nb": "file:daemon data" },
  },
  {
    name: "an entry path with a backslash",
    lie: oneFile("a\\b"),
    expect: { refused: /it contains a backslash/ },
  },
  {
    name: "an absolute entry path",
    lie: oneFile("/tmp/blit-evil"),
    expect: { refused: /Cannot use path "\/tmp\/blit-evil": it is absolute/ },
  },
  {
    name: "a group for an absolute directory",
    lie: (c) => ({
      steps: [root("x", c.contentsOnly), group(c.victim, fileItem(1, `${c.victim}/f`, "x"))],
      payload: { 1: "x" },
    }),
    expect: { refused: /it is absolute/ },
  },
  {
    name: "an entry path with a . component",
    lie: oneFile("./f"),
    expect: { refused: /it has a "\." segment/ },
  },
  {
    name: "a group for ..",
    verbs: ["copy", "mirror"],
    lie: (c) => ({
      steps: [root("x", c.contentsOnly), group("..", fileItem(1, "../f", "x"))],
      payload: { 1: "x" },
    }),
    expect: { refused: /Cannot use path "\.\.": it has a "\.\." segment/ },
  },
  {
    name: "a 256-byte name",
    lie: oneFile("n".repeat(256)),
    expect: { refused: /a component is longer than 255 bytes/ },
  },
  {
    name: "a path of 5,000 components",
    lie: oneFile(Array(5000).fill("a").join("/")),
    expect: { refused: /it is longer than 4096 bytes/ },
  },
  {
    name: "a path 1,025 levels deep",
    lie: (c) => {
      const parent = Array(1024).fill("a").join("/");
      return {
        steps: [root("x", c.contentsOnly), group(parent, fileItem(1, `${parent}/f`, "x"))],
        payload: { 1: "x" },
      };
    },
    expect: { refused: /it is deeper than 1024 levels/ },
  },
  {
    name: "a root named ..",
    lie: () => ({ steps: [rawRoot("..")], payload: {} }),
    verbs: ["copy"],
    expect: { refused: /Cannot use path "\.\.": it has a "\.\." segment/ },
  },
  {
    name: "a root with no name, to be placed inside DST",
    lie: () => ({ steps: [rawRoot("")], payload: {} }),
    verbs: ["copy"],
    expect: { refused: /Cannot place the source: it has no name/ },
  },
  {
    name: "a link whose target holds NUL",
    lie: oneGroup([linkItem(1, "l", "a\0b")]),
    expect: { refused: /Cannot accept link "l": bad target/ },
  },
  // Duplicates.
  {
    name: "the same file twice in a group",
    lie: oneGroup([fileItem(1, "d", "one"), fileItem(2, "d", "two")], { 1: "one", 2: "two" }),
    expect: { refused: /Cannot accept entry "d": it is in its group twice/ },
  },
  {
    name: "a file, then a directory of the same name",
    lie: (c) => ({
      steps: [
        root("x", c.contentsOnly),
        group("", fileItem(1, "d", "file"), dirItem(2, "d")),
        group("d", fileItem(3, "d/f", "inside")),
      ],
      payload: { 1: "file", 3: "inside" },
    }),
    expect: { refused: /Cannot accept entry "d": it is in its group twice/ },
  },
  {
    name: "a directory, then a file of the same name",
    lie: oneGroup([dirItem(1, "d"), fileItem(2, "d", "file")], { 2: "file" }),
    expect: { refused: /Cannot accept entry "d": it is in its group twice/ },
  },
  {
    name: "two groups for one directory",
    lie: (c) => ({
      steps: [
        root("x", c.contentsOnly),
        group("", dirItem(1, "d")),
        group("d", fileItem(2, "d/f", "one")),
        group("d", fileItem(3, "d/g", "two")),
      ],
      payload: { 2: "one", 3: "two" },
    }),
    expect: { refused: /Cannot accept the group "d": it was not announced as a directory/ },
    holds: { "d": "dir" },
    mayHold: { "d/f": "file:one" },
  },
  {
    name: "one id for two files",
    lie: oneGroup([fileItem(1, "a", "one"), fileItem(1, "b", "two")], { 1: "one" }),
    expect: { refused: /Cannot accept id 1 twice/ },
  },
  {
    name: "an entry the user excluded",
    lie: oneGroup([fileItem(1, "a.secret", "excluded"), fileItem(2, "f", "ok")], {
      1: "excluded",
      2: "ok",
    }),
    args: ["--exclude", "*.secret"],
    expect: { refused: /Cannot accept entry "a\.secret": it is excluded/ },
  },
  // Hard links (-H).
  {
    name: "a hard link the user did not ask for",
    lie: oneGroup([fileItem(1, "f", "ok"), { ...fileItem(2, "g", "ok"), hardLink: "f" }], {
      1: "ok",
    }),
    expect: {
      failed: /g: Cannot accept "g" as a hard link to "f": hard links were not asked for/,
      why: "the entry fails alone; nothing is linked",
    },
    holds: { "f": "file:ok" },
  },
  {
    name: "-H: a hard link to a file that never came",
    args: ["-H"],
    lie: oneGroup([{ ...fileItem(1, "g", "ok"), hardLink: "keep.txt" }, fileItem(2, "f", "ok")], {
      2: "ok",
    }),
    expect: {
      failed: /g: Cannot accept "g" as a hard link to "keep\.txt": no such file came before it/,
      why: "a destination file the source never sent is never given a second name",
    },
    holds: { "f": "file:ok" },
  },
  {
    name: "-H: a hard link to a path outside",
    args: ["-H"],
    lie: oneGroup([fileItem(1, "f", "ok"), { ...fileItem(2, "g", "ok"), hardLink: "../f" }], {
      1: "ok",
    }),
    expect: { refused: /Cannot use path "\.\.\/f": it has a "\.\." segment/ },
  },
  {
    name: "-H: a symlink that claims to be a hard link",
    args: ["-H"],
    lie: oneGroup([fileItem(1, "f", "ok"), { ...linkItem(2, "l", "f"), hardLink: "f" }], {
      1: "ok",
    }),
    expect: { refused: /Cannot accept "l": only a file can be a hard link/ },
  },
  // Sizes.
  {
    name: "announces 10 bytes, sends 1 MB",
    lie: oneGroup([bigFile(1, "f", 10)], { 1: bytes(1_000_000) }),
    expect: { refused: /Cannot accept data for id 1: more than the 10 bytes announced/ },
  },
  {
    name: "announces 1 MB, sends 10 bytes",
    verbs: ["copy", "mirror"],
    lie: oneGroup([bigFile(1, "f", 1_000_000)], { 1: bytes(10) }),
    expect: {
      failed:
        /f: Cannot verify copy: the source changed during the transfer \(10 bytes, expected 1000000\)/,
      why: "an honest source whose file shrank ends it early the same way: the file fails, " +
        "its temporary is removed, and mirror deletes nothing",
    },
  },
  {
    name: "announces 2^64-1 bytes",
    lie: (c) => ({ steps: [root("x", c.contentsOnly), rawFile(1, "f", U64_MAX)], payload: {} }),
    expect: { refused: /Cannot accept the size of "f": 18446744073709551615 is out of range/ },
  },
  {
    name: "a chunk over 1 MiB",
    lie: oneGroup([bigFile(1, "f", CHUNK_BYTES + 1)], { 1: bytes(CHUNK_BYTES + 1) }),
    expect: { refused: /Cannot accept a chunk of 1048577 bytes/ },
  },
  // Chunks.
  {
    name: "data for an id never announced",
    lie: oneGroup([fileItem(1, "f", "data")], { 1: "data" }, {
      answer: (_need, data) => [{ type: "chunk", id: 999, offset: 0, data, last: true }],
    }),
    expect: { refused: /Cannot accept payload for id 999: it was not asked for/ },
  },
  {
    name: "data for a directory's id (never needed)",
    lie: oneGroup([fileItem(1, "f", "data"), dirItem(2, "d")], { 1: "data" }, {
      answer: (need, data) => [
        { type: "chunk", id: 2, offset: 0, data, last: true },
        { type: "chunk", id: need.id, offset: 0, data, last: true },
      ],
    }),
    expect: { refused: /Cannot accept payload for id 2: it was not asked for/ },
    holds: { "d": "dir" },
  },
  {
    name: "data for the root (id 0)",
    lie: oneGroup([fileItem(1, "f", "data")], { 1: "data" }, {
      answer: (_need, data) => [{ type: "chunk", id: 0, offset: 0, data, last: true }],
    }),
    expect: { refused: /Cannot accept payload for id 0: it was not asked for/ },
  },
  {
    name: "a file's data twice",
    lie: oneGroup([fileItem(1, "f", "data")], { 1: "data" }, {
      answer: (need, data) => [
        { type: "chunk", id: need.id, offset: 0, data, last: true },
        { type: "chunk", id: need.id, offset: 0, data, last: true },
      ],
    }),
    expect: { refused: /Cannot accept payload for id 1: it was not asked for/ },
    // The first copy may be complete and in place before the second arrives: it may stay.
    mayHold: { "f": "file:data" },
  },
  {
    name: "a first chunk at offset 2^40",
    lie: oneGroup([fileItem(1, "f", "data")], { 1: "data" }, {
      answer: (need, data) => [{ type: "chunk", id: need.id, offset: 2 ** 40, data, last: true }],
    }),
    expect: { refused: /Cannot accept data for id 1: bad offset/ },
  },
  {
    name: "a chunk at offset 2^64-1",
    lie: oneGroup([fileItem(1, "f", "data")], { 1: "data" }, {
      answer: (need, data) => [{
        raw: { case: "dataChunk", value: { fileId: need.id, offset: U64_MAX, data, last: true } },
      }],
    }),
    expect: { refused: /Cannot accept a chunk offset: 18446744073709551615 is out of range/ },
  },
  {
    name: "a gap between two chunks",
    lie: oneGroup([fileItem(1, "f", "0123456789")], { 1: "0123456789" }, {
      answer: (need, data) => [
        { type: "chunk", id: need.id, offset: 0, data: data.subarray(0, 5), last: false },
        { type: "chunk", id: need.id, offset: 1e12, data: data.subarray(5), last: true },
      ],
    }),
    expect: { refused: /Cannot accept data for id 1: bad offset/ },
  },
  {
    name: "needs answered with nothing",
    verbs: ["copy", "mirror"],
    lie: oneGroup([fileItem(1, "f", "data")], { 1: "data" }, { answer: () => [] }),
    expect: {
      failed: /f: Cannot copy: the source never sent it/,
      why: "the source may fail to read a file; one it neither sends nor reports is counted " +
        "as failed (it used to be silently missing, exit 0)",
    },
  },
  {
    name: "the data's end in the middle of a file",
    verbs: ["copy", "mirror"],
    lie: oneGroup([fileItem(1, "f", "0123456789")], { 1: "0123456789" }, {
      answer: (need, data) => [
        { type: "chunk", id: need.id, offset: 0, data: data.subarray(0, 5), last: false },
      ],
    }),
    expect: {
      failed:
        /f: Cannot verify copy: the source changed during the transfer \(5 bytes, expected 10\)/,
      why: "as a file that shrank: it fails and its temporary goes (the CLI used to wait for " +
        "the rest of the file forever)",
    },
  },
  // Frames out of order, or of a kind the CLI never expects.
  {
    name: "data before the manifest",
    lie: (c) => ({
      steps: [
        root("x", c.contentsOnly),
        { type: "chunk", id: 1, offset: 0, data: encoder.encode("early"), last: true },
        group("", fileItem(1, "f", "early")),
      ],
      payload: { 1: "early" },
    }),
    expect: { refused: /Cannot accept payload for id 1: it was not asked for/ },
  },
  {
    name: "a second root",
    lie: (c) => ({ steps: [root("x", c.contentsOnly), group(""), root("y", false)], payload: {} }),
    expect: { refused: /Cannot handle a "root" frame in the destination role/ },
  },
  {
    name: "a summary first",
    lie: () => ({
      steps: [{
        type: "summary",
        summary: {
          examined: 0,
          transferred: 0,
          bytes: 0,
          deleted: 0,
          sourcesRemoved: 0,
          failed: 0,
          failures: [],
          deletionsSkipped: null,
        },
      }],
      payload: {},
    }),
    expect: { refused: /Cannot start: the root must come first/ },
  },
  {
    name: "the data's end before the needs' end",
    lie: (c) => ({
      steps: [
        root("x", c.contentsOnly),
        group("", fileItem(1, "f", "x")),
        { type: "dataEnd", failures: [] },
      ],
      payload: { 1: "x" },
    }),
    expect: { refused: /Cannot accept the end of data before the end of needs/ },
  },
  {
    name: "a manifest after its end",
    lie: (c) => ({
      steps: [
        root("x", c.contentsOnly),
        group(""),
        { type: "manifestEnd", scanComplete: true, entries: 0, bytes: 0 },
        group("", fileItem(1, "late", "x")),
      ],
      payload: { 1: "x" },
      noManifestEnd: true,
    }),
    expect: { refused: /Cannot accept a manifest after its end/ },
  },
  {
    name: "needs sent by the source",
    lie: (c) => ({
      steps: [root("x", c.contentsOnly), { type: "needs", needs: [{ id: 1, path: "f" }] }],
      payload: {},
    }),
    expect: { refused: /Cannot handle a "needs" frame in the destination role/ },
  },
  {
    name: "a consent request from the source",
    lie: (c) => ({
      steps: [
        root("x", c.contentsOnly),
        group(""),
        { type: "consentRequest", paths: ["keep.txt"], total: 1 },
      ],
      payload: {},
    }),
    expect: { refused: /Cannot handle a "consentRequest" frame in the destination role/ },
  },
  {
    name: "an Accept in the middle of the session",
    lie: (c) => ({
      steps: [
        root("x", c.contentsOnly),
        { raw: { case: "accept", value: { protocolVersion: PROTOCOL_VERSION } } },
      ],
      payload: {},
    }),
    expect: { refused: /Cannot handle a "accept" frame in a session/ },
  },
  {
    name: "an empty frame (a kind this CLI does not know)",
    lie: (c) => ({
      steps: [
        root("x", c.contentsOnly),
        { raw: { case: undefined } },
        group("", fileItem(1, "f", "data")),
      ],
      payload: { 1: "data" },
    }),
    expect: {
      ok: "a frame whose kind is unknown is skipped (a newer peer may add kinds); the session " +
        "goes on and checks every frame it does use",
    },
    holds: { "f": "file:data" },
  },
  // Counts.
  {
    name: "a group of 200,000 entries, then the call ends",
    lie: () => () => async (port) => {
      const entries = Array.from(
        { length: 200_000 },
        (_, i) => fileItem(i + 1, `f${String(i).padStart(6, "0")}`, "x"),
      );
      await port.send(root("x", false));
      await port.send({ type: "manifest", groups: [{ dir: "", entries, complete: true }] });
      await port.send({ type: "manifestEnd", scanComplete: true, entries: 200_000, bytes: 0 });
      await firstNeeds(port);
    },
    verbs: ["copy"],
    expect: { refused: /Cannot finish the session: the peer closed the stream/ },
  },
  {
    name: "a group of 200,000 entries whose last one is ..",
    lie: (c) => {
      const entries = Array.from({ length: 199_999 }, (_, i) => fileItem(i + 1, `f${i}`, "x"));
      entries.push(fileItem(200_000, "..", "x"));
      return {
        steps: [root("x", c.contentsOnly), {
          type: "manifest",
          groups: [{ dir: "", entries, complete: true }],
        }],
        payload: {},
      };
    },
    verbs: ["copy"],
    expect: { refused: /Cannot use path "\.\.": it has a "\.\." segment/ },
  },
  {
    name: "an id of 2^32-1",
    lie: oneGroup([fileItem(2 ** 32 - 1, "f", "data")], { [2 ** 32 - 1]: "data" }),
    expect: { ok: "ids are the source's to choose; the largest one works as any other" },
    holds: { "f": "file:data" },
  },
  {
    name: "a manifest end counting 2^64-1 entries",
    lie: (c) => ({
      steps: [
        root("x", c.contentsOnly),
        group(""),
        {
          raw: {
            case: "manifestEnd",
            value: { scanComplete: true, totalEntries: U64_MAX, totalBytes: U64_MAX },
          },
        },
      ],
      payload: {},
      noManifestEnd: true,
    }),
    expect: { refused: /Cannot accept the manifest's size: 18446744073709551615 is out of range/ },
  },
  // Texts for the terminal.
  {
    name: "an abort whose message has two lines and a terminal escape",
    lie: (c) => ({
      steps: [
        root("x", c.contentsOnly),
        {
          type: "abort",
          abort: { code: "io", message: "first line \x1b[2J\nsecond line", subject: "" },
        },
      ],
      payload: {},
    }),
    expect: { refused: /^blit: first line \\u001b\[2J$/m },
  },
  {
    name: "a summary whose failures hold terminal escapes",
    verbs: ["copy", "mirror"],
    lie: oneGroup([fileItem(1, "f", "data")], { 1: "data" }, {
      summary: {
        examined: 1,
        transferred: 0,
        bytes: 0,
        deleted: 0,
        sourcesRemoved: 0,
        failed: 1,
        failures: [{ path: "\x1b]0;owned\x07", message: "line one\nline two" }],
        deletionsSkipped: null,
      },
    }),
    expect: {
      failed: /\\u001b\]0;owned\\u0007: line one\\u000aline two/,
      why: "the daemon may report a file of its own that failed; the line is printed escaped",
    },
    holds: { "f": "file:data" },
    // The source's summary comes after the deletions (its read failures come before, in its
    // data's end, and stop them).
    mirrorDeletes: true,
  },
  // Mirror deletions.
  {
    name: "a mirror source that leaves entries out deletes only inside the destination",
    lie: oneGroup([fileItem(1, "f", "data")], { 1: "data" }),
    verbs: ["mirror"],
    expect: { ok: "that is what mirror means; the gate and --yes allow it, inside DST only" },
    holds: { "f": "file:data" },
  },
  // A daemon that stops.
  {
    name: "the call ends after the manifest",
    lie: () => () => async (port) => {
      await startBigFile(port, 100);
    },
    verbs: ["copy"],
    expect: { refused: /Cannot finish the session: the peer closed the stream/ },
  },
  {
    name: "the call ends in the middle of a file",
    lie: () => () => async (port) => {
      if (!await startBigFile(port, 4 * CHUNK_BYTES)) return;
      await port.send({ type: "chunk", id: 1, offset: 0, data: bytes(CHUNK_BYTES), last: false });
    },
    verbs: ["copy"],
    expect: { refused: /Cannot finish the session: the peer closed the stream/ },
  },
  {
    name: "the connection is cut mid-frame",
    lie: () => (fake) => async (port) => {
      if (!await startBigFile(port, 4 * CHUNK_BYTES)) return;
      await port.send({ type: "chunk", id: 1, offset: 0, data: bytes(1000), last: false });
      fake.cutMidFrame(4096);
      await port.send({
        type: "chunk",
        id: 1,
        offset: 1000,
        data: bytes(CHUNK_BYTES),
        last: false,
      });
    },
    ownDaemon: true,
    verbs: ["copy"],
    expect: { refused: /^blit: Cannot (continue|finish) the session/m },
  },
  {
    name: "every connection drops mid-file",
    lie: () => (fake) => async (port) => {
      if (!await startBigFile(port, 4 * CHUNK_BYTES)) return;
      await port.send({ type: "chunk", id: 1, offset: 0, data: bytes(CHUNK_BYTES), last: false });
      await new Promise((resolve) => setTimeout(resolve, 200));
      fake.dropConnections();
    },
    ownDaemon: true,
    verbs: ["copy"],
    expect: { refused: /^blit: Cannot (continue|finish) the session/m },
  },
];

/** Every `.blit-tmp-` entry under `dir`. */
async function temporaries(dir: string): Promise<string[]> {
  return Object.keys(await readTree(dir)).filter((p) =>
    p.split("/").some((n) => n.startsWith(".blit-tmp-"))
  );
}

/** Checks a run against what its row expects. */
function assertOutcome(r: RunResult, expect: Expect): void {
  assertNoStack(r.stderr + r.stdout);
  assertPrintable(r.stderr + r.stdout);
  // `-v`: one line per event, whatever the names hold (a newline in one must not forge a line).
  for (const line of r.stdout.split("\n").filter((l) => l !== "")) {
    ok(/^(copy|link|mkdir|delete) /.test(line), `not an event line: ${JSON.stringify(line)}`);
  }
  if ("refused" in expect) return assertRefused(r, expect.refused);
  if ("failed" in expect) {
    equal(r.code, 2, `expected exit 2:\n${r.stderr}`);
    ok(expect.failed.test(r.stderr), `expected ${expect.failed} on stderr:\n${r.stderr}`);
    return;
  }
  equal(r.code, 0, `expected exit 0:\n${r.stderr}`);
}

/** Runs `run` for every item, `width` at a time. */
async function inPool<I>(items: I[], width: number, run: (item: I) => Promise<unknown>) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await run(items[next++] as I);
  }));
}

/**
 * Runs each case as a step, two at a time (the CLI's start-up dominates and one waits on the
 * other's I/O); steps that run at the same time must turn their sanitizers off.
 */
async function steps<I>(
  t: Deno.TestContext,
  cases: I[],
  name: (item: I) => string,
  fn: (item: I) => Promise<void>,
): Promise<void> {
  await inPool(cases, PARALLEL, (item) =>
    t.step({
      name: name(item),
      fn: () => fn(item),
      sanitizeOps: false,
      sanitizeResources: false,
      sanitizeExit: false,
    }));
}

/** Cases run at the same time. */
const PARALLEL = 2;

Deno.test({
  name: "lying daemon: a pulling CLI refuses every lie, writes only inside DST and never hangs",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const fake = await startFakeDaemon();
    try {
      const cases = PULL_ROWS.flatMap((row, i) =>
        (row.verbs ?? ["copy"]).map((verb) => ({ row, verb, key: `r${i}-${verb}` }))
      );
      await steps(t, cases, (c) => `${c.row.name} (${c.verb})`, async (c) => {
        const { row, verb, key } = c;
        const own = row.ownDaemon ? await startFakeDaemon() : null;
        const daemon = own ?? fake;
        try {
          await withTempDir(async (dir) => {
            await makeTree(dir, {
              "victim/keep.txt": "the victim's file",
              "victim/sub/deep.txt": "deep",
              "work/other.txt": "next to DST",
            });
            const dst = `${dir}/work/dst`;
            // copy HOST:/m/x DST/ lands in DST/x; mirror HOST:/m/x/ DST lands onto DST.
            const target = verb === "copy" ? `${dst}/x` : dst;
            await makeTree(target, { "keep.txt": "already here" });
            const before = await snapshotOutside(dir, "work/dst");
            const lie = row.lie({ victim: `${dir}/victim`, contentsOnly: verb === "mirror" });
            const path = verb === "copy" ? `${key}/x` : `${key}/x/`;
            if (typeof lie === "function") {
              const script = lie(daemon);
              daemon.byPath.set(path, (port) => script(port));
            } else daemon.byPath.set(path, lie);
            const watch = watchChanges(dir, [dst]);
            const where = verb === "copy"
              ? ["copy", `${daemon.address}:/m/${path}`, `${dst}/`]
              : ["mirror", `${daemon.address}:/m/${path}`, dst, "--yes"];
            const r = await blit([...where, "--no-tls", "-v", ...(row.args ?? [])], DEADLINE_MS);
            deepStrictEqual(await watch.stop(), [], "nothing outside DST changed, even briefly");
            assertOutcome(r, row.expect);
            deepStrictEqual(await snapshotOutside(dir, "work/dst"), before, "outside DST");
            deepStrictEqual(await temporaries(dst), [], "no temporary left in DST");
            const deletes = row.mirrorDeletes ?? "ok" in row.expect;
            const kept = deletes && verb === "mirror" ? {} : KEEP;
            const held = await shape(target);
            for (const [path, what] of Object.entries(row.mayHold ?? {})) {
              if (held[path] === what) delete held[path];
            }
            deepStrictEqual(held, { ...kept, ...(row.holds ?? {}) }, "DST holds");
          });
        } finally {
          await own?.stop();
        }
      });
    } finally {
      await fake.stop();
    }
  },
});

/** One lie a daemon tells a pushing CLI (the daemon is the DESTINATION). */
interface PushRow {
  /** The lie, in a few words. */
  name: string;
  /** The lie. */
  lie: DestinationLie;
  /** The verbs to run it with (default both). */
  verbs?: ("copy" | "mirror")[];
  /** What the CLI must do. */
  expect: Expect;
}

/** The id of the source's entry at `path`. */
function idOf(entries: ManifestItem[], path: string): number {
  const entry = entries.find((e) => e.path === path);
  if (!entry) throw new Error(`the source did not announce ${path}`);
  return entry.id;
}

const PUSH_ROWS: PushRow[] = [
  {
    name: "an honest destination (the baseline)",
    verbs: ["copy", "mirror"],
    lie: { early: (e) => [{ type: "needs", needs: [{ id: idOf(e, "a.txt"), path: "a.txt" }] }] },
    expect: { ok: "nothing is wrong" },
  },
  {
    name: "a need for id 2^32-1",
    lie: { early: () => [{ type: "needs", needs: [{ id: 2 ** 32 - 1, path: "a.txt" }] }] },
    expect: { refused: /Cannot use id 4294967295: it is not a file of this manifest/ },
  },
  {
    name: "a need whose path is another file's",
    lie: {
      early: (e) => [{ type: "needs", needs: [{ id: idOf(e, "a.txt"), path: "sub/b.txt" }] }],
    },
    expect: { refused: /Cannot use id \d+: it is not a file of this manifest/ },
  },
  {
    name: "a need for a path outside the source (..)",
    lie: { early: () => [{ type: "needs", needs: [{ id: 1, path: "../victim/keep.txt" }] }] },
    expect: { refused: /it has a "\.\." segment/ },
  },
  {
    name: "a need for an absolute path",
    lie: { early: () => [{ type: "needs", needs: [{ id: 1, path: "/etc/passwd" }] }] },
    expect: { refused: /Cannot use path "\/etc\/passwd": it is absolute/ },
  },
  {
    name: "a need for a directory",
    lie: { early: (e) => [{ type: "needs", needs: [{ id: idOf(e, "sub"), path: "sub" }] }] },
    expect: { refused: /Cannot use id \d+: it is not a file of this manifest/ },
  },
  {
    name: "a need for the root (id 0)",
    lie: { early: () => [{ type: "needs", needs: [{ id: 0, path: "" }] }] },
    expect: { refused: /Cannot use id 0: it is not a file of this manifest/ },
  },
  {
    name: "a checksum request for an id never announced",
    lie: { early: () => [{ type: "checksumRequest", ids: [123456] }] },
    expect: { refused: /Cannot use id 123456: it is not a file of this manifest/ },
  },
  {
    name: "file reports in a copy (no move)",
    lie: {
      early: (e) => [{
        type: "filesDone",
        files: [{ id: idOf(e, "a.txt"), ok: true, size: 1, mtimeMs: T, digest: "", message: "" }],
      }],
    },
    expect: { refused: /Cannot accept file reports: this session is not a move/ },
  },
  {
    name: "a consent request with a path outside the transfer (..)",
    lie: {
      early: () => [],
      late: () => [{ type: "consentRequest", paths: ["../victim/keep.txt"], total: 1 }],
    },
    verbs: ["mirror"],
    expect: { refused: /it has a "\.\." segment/ },
  },
  {
    name: "a consent request listing 1,001 paths",
    lie: {
      early: () => [],
      late: () => [{
        type: "consentRequest",
        paths: Array.from({ length: 1001 }, (_, i) => `p${i}`),
        total: 1001,
      }],
    },
    verbs: ["mirror"],
    expect: { refused: /Cannot accept a consent request of 1001 paths/ },
  },
  {
    name: "a consent request in a copy",
    lie: {
      early: () => [],
      late: () => [{ type: "consentRequest", paths: ["a.txt"], total: 1 }],
    },
    verbs: ["copy"],
    expect: { refused: /Cannot accept a consent request: this session is not a mirror/ },
  },
  {
    name: "a consent request for paths the source never sent",
    lie: {
      early: () => [],
      late: () => [{ type: "consentRequest", paths: ["elsewhere/x", "\x1b[2J"], total: 2 }],
    },
    verbs: ["mirror"],
    expect: {
      ok: "what a mirror deletes is the daemon's own tree, the consent only answers yes or no " +
        "(--yes here; a prompt prints the paths escaped), and nothing local is touched",
    },
  },
  {
    name: "a summary before the needs' end",
    lie: { early: () => [{ type: "summary", summary: { ...zeroSummary(), transferred: 99 } }] },
    expect: {
      ok: "the daemon is the judge of its own side: ending early only means less was " +
        "written there, and nothing local changes",
    },
  },
];

/** A summary of nothing. */
function zeroSummary(): Extract<Frame, { type: "summary" }>["summary"] {
  return {
    examined: 0,
    transferred: 0,
    bytes: 0,
    deleted: 0,
    sourcesRemoved: 0,
    failed: 0,
    failures: [],
    deletionsSkipped: null,
  };
}

Deno.test({
  name: "lying daemon: a pushing CLI reads and removes nothing it was not asked for",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const fake = await startFakeDaemon();
    try {
      await withTempDir(async (dir) => {
        await makeTree(dir, {
          "victim/keep.txt": "the victim's file",
          "work/src/a.txt": "pushed a",
          "work/src/sub/b.txt": "pushed b",
        });
        const before = await readTree(dir);
        const cases = PUSH_ROWS.flatMap((row, i) =>
          (row.verbs ?? ["copy"]).map((verb) => ({ row, verb, key: `t${i}-${verb}/` }))
        );
        await steps(t, cases, (c) => `${c.row.name} (${c.verb})`, async ({ row, verb, key }) => {
          fake.byPath.set(key, (port) => playDestination(port, row.lie));
          const watch = watchChanges(dir);
          const r = await blit(
            [verb, `${dir}/work/src/`, `${fake.address}:/m/${key}`, "--no-tls", "-v"].concat(
              verb === "mirror" ? ["--yes"] : [],
            ),
            DEADLINE_MS,
          );
          deepStrictEqual(await watch.stop(), [], "nothing local changed, even briefly");
          assertOutcome(r, row.expect);
          deepStrictEqual(await readTree(dir), before, "nothing local changed");
        });
      });
    } finally {
      await fake.stop();
    }
  },
});

/** Serves a fake daemon in this process when run as a program (the killed-daemon case). */
async function serveSlowFile(): Promise<void> {
  const fake = await startFakeDaemon();
  fake.script = async (port) => {
    if (!await startBigFile(port, 64 * CHUNK_BYTES)) return;
    for (let offset = 0;; offset += 64 * 1024) {
      const data = bytes(64 * 1024);
      await port.send({ type: "chunk", id: 1, offset, data, last: false });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  console.log(`listening on ${fake.address}`);
}

Deno.test({
  name:
    "lying daemon: a daemon killed mid-file leaves no truncated file, no held temporary, no hang",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      await makeTree(dir, { "work/dst/x/keep.txt": "already here", "victim/keep.txt": "v" });
      const dst = `${dir}/work/dst`;
      const server = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", import.meta.filename ?? `${REPO}/tests/hostile/lying_daemon_test.ts`],
        env: { BLIT_FAKE_DAEMON: "slow-file" },
        stdout: "piped",
        stderr: "inherit",
        stdin: "null",
      }).spawn();
      try {
        const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let out = "";
        while (!/listening on (\S+)/.test(out)) {
          const { value, done } = await within(reader.read(), WAIT_MS, "the fake daemon's start");
          if (done) throw new Error(`the fake daemon did not start: ${out}`);
          out += value;
        }
        const address = (/listening on (\S+)/.exec(out) as RegExpExecArray)[1] as string;
        const before = await snapshotOutside(dir, "work/dst");
        const watch = watchChanges(dir, [dst]);
        const cli = spawnBlit(["copy", `${address}:/m/x`, `${dst}/`, "--no-tls"]);
        // Kill the daemon once the file is being written.
        await within(
          (async () => {
            while (!Object.keys(await readTree(dst)).some((p) => p.includes("/.blit-"))) {
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          })(),
          WAIT_MS,
          "the first bytes of the file",
        );
        server.kill("SIGKILL");
        const r = await within(cli.result, DEADLINE_MS, "the CLI after the daemon died");
        deepStrictEqual(await watch.stop(), [], "nothing outside DST changed");
        assertOutcome(r, { refused: /^blit: Cannot (continue|finish) the session/m });
        deepStrictEqual(await snapshotOutside(dir, "work/dst"), before, "outside DST");
        deepStrictEqual(await temporaries(dst), [], "no temporary left in DST");
        // What was written of the file stays as a released partial file: the next run checks its
        // blocks against the source's digests before it keeps any of them.
        const held = await shape(`${dst}/x`);
        const partials = Object.keys(held).filter((name) => name.startsWith(".blit-partial-"));
        ok(partials.length <= 1, `partial files: ${partials.join(", ")}`);
        for (const name of partials) {
          equal(inspectTemporaryAt(`${dst}/x/${name}`)?.locked, false, "the partial is released");
          delete held[name];
        }
        deepStrictEqual(held, KEEP, "DST holds what it held (and at most a partial file)");
        await reader.cancel();
      } finally {
        try {
          server.kill("SIGKILL");
        } catch { /* already gone */ }
        await server.status;
      }
    });
  },
});

if (import.meta.main && Deno.env.get("BLIT_FAKE_DAEMON") === "slow-file") await serveSlowFile();
