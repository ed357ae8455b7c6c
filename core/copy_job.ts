/**
 * One local file copy through a temporary sibling, done with synchronous calls (cheapest per
 * file in Deno); shared by the in-thread path and the copy workers.
 *
 * @module
 */
import { writeFully } from "./file_write.ts";
import type { Pace } from "./shared_pace.ts";
import { describeError } from "./errors.ts";
import { removeOwnName } from "./own_name.ts";
import { type DirIdentity, renameSettingAside, setAsideAt, tempName } from "./tree.ts";

/** What a copy worker is asked to do for one file. */
export interface CopyJob {
  /** Caller's index of the job. */
  id: number;
  /** Absolute source path. */
  src: string;
  /** Absolute temporary sibling of the final path. */
  tmp: string;
  /** Absolute final path. */
  dst: string;
  /** Size announced in the manifest; the copy must have exactly this size. */
  size: number;
  /** Modification time to stamp, in milliseconds. */
  mtimeMs: number;
  /** Permission bits to give the copy. */
  mode: number;
  /** The process umask, to know whether creating with `mode` gives `mode`. */
  umask: number;
  /** Numeric owner to give the copy (as root, when the session keeps owners). */
  uid?: number | undefined;
  /** Numeric group to give the copy. */
  gid?: number | undefined;
  /**
   * The bytes to write, instead of reading `src` (a file received from a peer, in a shard);
   * exactly `size` of them.
   */
  data?: Uint8Array;
  /**
   * `tmp` is a partial file an interrupted run left: the part that matches `src` is kept and
   * the rest copied after it (else `tmp` is created).
   */
  resume?: boolean;
  /**
   * The directory `tmp` and `dst` are in and its identity, checked (`lstat`: same device and
   * inode) right before the create and right before the rename, as a contained tree does.
   */
  dir?: DirIdentity & { parent?: DirIdentity };
  /**
   * `dst` is a large old version (see `releasesOld` in session/intake.ts): it is renamed aside
   * right before the rename and removed after it (see `TreeDir.setAside`). Not with `dir`.
   */
  releaseOld?: boolean;
}

/**
 * A fill (what a destination's `writeFile` takes) for a file whose bytes are all in memory (a shard member): one
 * synchronous write, far cheaper than async file ops; it may be called once.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { fillFromMemory } from "./copy_job.ts";
 * const path = await Deno.makeTempFile();
 * const fill = fillFromMemory(7, new TextEncoder().encode("hello"));
 * {
 *   using file = await Deno.open(path, { write: true });
 *   await fill(file);
 * }
 * strictEqual(await Deno.readTextFile(path), "hello");
 * await Deno.remove(path);
 * ```
 *
 * @param id The file's manifest id (for the message of a second call).
 * @param data Its bytes.
 * @returns The fill.
 */
export function fillFromMemory(
  id: number,
  data: Uint8Array,
): (file: Deno.FsFile) => Promise<void> {
  let filled = false;
  return (file) => {
    if (filled) {
      return Promise.reject(new Error(`Cannot fill file ${id}: fill was already called`));
    }
    filled = true;
    try {
      writeFully(file, data);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve();
  };
}

/** Files up to this size are copied with one read and one write; larger ones in slices. */
export const SMALL_FILE_BYTES = 256 * 1024;

let buffer = new Uint8Array(0);

/** The outcome of one {@linkcode CopyJob}: `null` on success, else a one-line error. */
export type CopyResult = string | null;

function changed(size: number, expected: number): Error {
  return new Error(
    `Cannot verify copy: the source changed during the transfer (${size} bytes, expected ${expected})`,
  );
}

/**
 * Creates the temporary exclusively and locks it (released when it is closed, after its rename),
 * so that no other run takes it for stale.
 */
function createTemp(job: CopyJob): Deno.FsFile {
  const out = Deno.openSync(job.tmp, { write: true, createNew: true, mode: job.mode });
  out.lockSync(true);
  return out;
}

/**
 * Copies a small file with the fewest calls: one read (plus the one that sees the end), one
 * create with the final mode, one write, a time stamp on the open file.
 */
function copySmall(job: CopyJob, mtime: Date, pace: Pace | null): Deno.FsFile {
  if (buffer.length < job.size + 1) buffer = new Uint8Array(Math.max(job.size + 1, 64 * 1024));
  let got = 0;
  {
    using src = Deno.openSync(job.src, { read: true });
    while (got <= job.size) {
      const n = src.readSync(buffer.subarray(got, job.size + 1));
      if (n === null || n === 0) break;
      got += n;
    }
  }
  if (got !== job.size) throw changed(got, job.size);
  pace?.take(got);
  const out = createTemp(job);
  createdTemp = job.tmp;
  return closedOnError(out, () => {
    writeFully(out, buffer.subarray(0, got));
    out.utimeSync(mtime, mtime);
    giveOwner(job);
    // After the write: the umask may have taken bits, and a write (or a chown) clears setuid and
    // setgid bits (without CAP_FSETID).
    if ((job.mode & ~job.umask) !== job.mode || (job.mode & 0o6000) !== 0) {
      Deno.chmodSync(job.tmp, job.mode);
    }
  });
}

/** Runs `work` on an open file; closes the file when it throws, else returns it. */
function closedOnError(file: Deno.FsFile, work: () => void): Deno.FsFile {
  try {
    work();
    return file;
  } catch (error) {
    file.close();
    throw error;
  }
}

/** The temporary the running job created (its name is its own: see `own_name.ts`). */
let createdTemp = "";

/**
 * Refuses to go on when `job.dir` (and, with `parent`, its parent) is no longer the directory
 * verified when the job was made.
 */
function checkDir(job: CopyJob, parent: boolean): void {
  const dir = job.dir;
  if (dir === undefined) return;
  sameDir(dir);
  if (parent && dir.parent !== undefined) sameDir(dir.parent);
}

function sameDir(dir: DirIdentity): void {
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.lstatSync(dir.path);
  } catch { /* gone: refused below */ }
  if (
    info === null || !info.isDirectory || info.dev !== dir.dev || (info.ino ?? 0) !== dir.ino
  ) {
    throw new Error(
      "Cannot write the file: its directory changed during the session (it is no longer the " +
        "directory checked before); not written",
    );
  }
}

/** Writes received bytes: one create with the final mode, one write, a time stamp. */
function writeReceived(
  job: CopyJob,
  data: Uint8Array,
  mtime: Date,
  pace: Pace | null,
): Deno.FsFile {
  if (data.length !== job.size) throw changed(data.length, job.size);
  pace?.take(data.length);
  checkDir(job, true);
  const out = createTemp(job);
  createdTemp = job.tmp;
  return closedOnError(out, () => {
    // At once after the create, as a contained tree does: a directory exchanged meanwhile is
    // seen while the exchange most likely still holds, so the temporary removed (see
    // runCopyJob) is the one just created, wherever it went.
    checkDir(job, false);
    writeFully(out, data);
    out.utimeSync(mtime, mtime);
    giveOwner(job);
    if ((job.mode & ~job.umask) !== job.mode || (job.mode & 0o6000) !== 0) {
      Deno.chmodSync(job.tmp, job.mode);
    }
  });
}

/**
 * Copies a large file into its locked temporary through this thread, 1 MiB at a time, or
 * continues a partial file (see {@linkcode resumePartial}), then checks and stamps it. Not
 * `Deno.copyFileSync` (the kernel's `copy_file_range`): it opens the temporary again with
 * `O_TRUNC`, and ext4 (`auto_da_alloc`) then writes the whole file back when that descriptor
 * closes, inside the copy: 0.63–0.71 s for 1 GiB on this project's machine, where the same copy
 * into the descriptor as it was created closed at once.
 */
function copyLarge(job: CopyJob, mtime: Date, pace: Pace | null): Deno.FsFile {
  let out: Deno.FsFile;
  if (job.resume) {
    out = Deno.openSync(job.tmp, { read: true, write: true });
    const partial = out;
    closedOnError(partial, () => {
      if (!partial.tryLockSync(true)) {
        throw new Error("Cannot resume the partial file: another run is writing it");
      }
      resumePartial(job, partial, pace);
    });
  } else {
    out = createTemp(job);
    createdTemp = job.tmp;
    // Into the descriptor the file was created with: its lock holds while the slices are
    // written, and nothing truncates it (see above).
    const into = out;
    closedOnError(into, () => {
      using src = Deno.openSync(job.src, { read: true });
      copyRest(src, into, pace, pace === null ? largeSlice() : undefined);
    });
  }
  return closedOnError(out, () => {
    const size = out.statSync().size;
    if (size !== job.size) throw changed(size, job.size);
    giveOwner(job);
    Deno.chmodSync(job.tmp, job.mode);
    out.utimeSync(mtime, mtime);
  });
}

/**
 * Gives the temporary its owner and group, when the job says (before its mode: see callers).
 * Nothing is changed when the new file already has them: this process's ids, in a directory
 * without the setgid bit (which would give it the directory's group instead).
 */
function giveOwner(job: CopyJob): void {
  if (job.uid === undefined && job.gid === undefined) return;
  if (createdWithOwner(job)) return;
  Deno.chownSync(job.tmp, job.uid ?? null, job.gid ?? null);
}

/** This thread's user and group ids, read once. */
let ownIds: { uid: number; gid: number } | null = null;

/** Whether each directory written into has the setgid bit (read once per directory). */
const setgidDirs = new Map<string, boolean>();

/** Most directories remembered in {@linkcode setgidDirs} before it starts over. */
const SETGID_DIRS_MAX = 4096;

/** Whether a file just created for `job` already has the owner and group it asks for. */
function createdWithOwner(job: CopyJob): boolean {
  ownIds ??= { uid: Deno.uid() ?? -1, gid: Deno.gid() ?? -1 };
  if (job.uid !== undefined && job.uid !== ownIds.uid) return false;
  if (job.gid === undefined) return true;
  if (job.gid !== ownIds.gid) return false;
  const parent = job.tmp.slice(0, job.tmp.lastIndexOf("/")) || "/";
  let setgid = setgidDirs.get(parent);
  if (setgid === undefined) {
    if (setgidDirs.size >= SETGID_DIRS_MAX) setgidDirs.clear();
    setgid = ((Deno.statSync(parent).mode ?? 0) & 0o2000) !== 0;
    setgidDirs.set(parent, setgid);
  }
  return !setgid;
}

/** Bytes compared or copied at a time when a partial file is continued. */
const RESUME_CHUNK = 4 * 1024 * 1024;

/**
 * Continues a partial file: compares it with the source chunk by chunk, cuts it at the first
 * byte that differs (or at the source's end), and copies the rest of the source after it.
 */
function resumePartial(job: CopyJob, out: Deno.FsFile, pace: Pace | null): void {
  using src = Deno.openSync(job.src, { read: true });
  const theirs = new Uint8Array(RESUME_CHUNK);
  const ours = new Uint8Array(RESUME_CHUNK);
  const have = Math.min(out.statSync().size, job.size);
  let good = 0;
  while (good < have) {
    const want = Math.min(RESUME_CHUNK, have - good);
    const a = readFully(src, theirs.subarray(0, want));
    const b = readFully(out, ours.subarray(0, want));
    let same = 0;
    const n = Math.min(a, b);
    while (same < n && theirs[same] === ours[same]) same++;
    good += same;
    if (same < want) break;
  }
  out.truncateSync(good);
  src.seekSync(good, Deno.SeekMode.Start);
  out.seekSync(good, Deno.SeekMode.Start);
  copyRest(src, out, pace, theirs);
}

/** Bytes a paced copy writes at a time. */
const PACED_SLICE = 256 * 1024;

/** Bytes an unpaced copy of a large file reads at a time (written in 256 KiB slices). */
const LARGE_SLICE = 1024 * 1024;

let largeBuffer: Uint8Array | null = null;

/** This thread's buffer for unpaced large copies, made once. */
function largeSlice(): Uint8Array {
  return largeBuffer ??= new Uint8Array(LARGE_SLICE);
}

/** Copies what is left of `src` to `out`, held to `pace` when there is one. */
function copyRest(
  src: Deno.FsFile,
  out: Deno.FsFile,
  pace: Pace | null,
  scratch: Uint8Array = new Uint8Array(PACED_SLICE),
): void {
  const slice = pace === null ? scratch : scratch.subarray(0, PACED_SLICE);
  while (true) {
    const n = src.readSync(slice);
    if (n === null || n === 0) break;
    pace?.take(n);
    writeFully(out, slice.subarray(0, n));
  }
}

/** Reads until `into` is full or the file ends; returns the bytes read. */
function readFully(file: Deno.FsFile, into: Uint8Array): number {
  let got = 0;
  while (got < into.length) {
    const n = file.readSync(into.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Copies `job.src` to the temporary sibling `job.tmp` (small files by one read and one write,
 * large ones by the kernel), checks the size against the manifest, stamps mode and mtime, and
 * renames the result into place. On any failure the temporary file is removed.
 *
 * @param job The copy to do.
 * @param pace Holds the writes to a rate (`--bwlimit`), or `null`.
 * @returns `null` on success, or a one-line error message.
 */
export function runCopyJob(job: CopyJob, pace: Pace | null = null): CopyResult {
  createdTemp = "";
  try {
    const mtime = new Date(job.mtimeMs);
    // Renamed while still open: its lock holds until it has its final name.
    using _out = job.data !== undefined
      ? writeReceived(job, job.data, mtime, pace)
      : job.size <= SMALL_FILE_BYTES && !job.resume
      ? copySmall(job, mtime, pace)
      : copyLarge(job, mtime, pace);
    checkDir(job, false);
    if (job.releaseOld && job.dir === undefined) replaceSettingAside(job.tmp, job.dst);
    else Deno.renameSync(job.tmp, job.dst);
    return null;
  } catch (error) {
    // A partial file this job continued stays: the next run judges it (see temporaryVerdict).
    if (job.resume) return describeError(error);
    try {
      // A checked job's temporary is removed wherever its name leads (see own_name.ts).
      if (job.dir !== undefined && createdTemp === job.tmp) removeOwnName(job.tmp);
      else Deno.removeSync(job.tmp);
    } catch { /* never created; the error that matters is the one below */ }
    return describeError(error);
  }
}

/**
 * Renames `tmp` over the large old version `dst` with the old version set aside first, so that
 * the rename neither frees its blocks nor makes ext4 write the new version back (see
 * `TreeDir.setAside`); the old version is then removed on this (worker) thread. When it cannot be
 * set aside, the rename replaces it as usual.
 */
function replaceSettingAside(tmp: string, dst: string): void {
  const slash = dst.lastIndexOf("/");
  const aside = `${dst.slice(0, slash + 1)}${tempName(dst.slice(slash + 1))}`;
  renameSettingAside(() => {
    try {
      return setAsideAt(dst, aside);
    } catch {
      return null; // replaced by the rename
    }
  }, () => Deno.renameSync(tmp, dst))?.releaseSync();
}

/**
 * A batch of jobs as it crosses to a worker thread: received files are packed (their bytes in
 * one transferred buffer, their numbers in one typed array, each directory once) because a
 * structured clone of one object per file cost ~15 µs a file on the sending thread; other jobs
 * travel as they are.
 */
export interface PackedBatch {
  /** Jobs that are not received files. */
  copies: CopyJob[];
  /** The directories of the received files, each once. */
  dirs: NonNullable<CopyJob["dir"]>[];
  /** Per received file: the temporary's name and the final name, in their directory. */
  names: string[];
  /** Per received file: id, directory index, size, mtime, mode, umask, uid, gid (-1: none). */
  numbers: Float64Array<ArrayBuffer>;
  /** The received files' bytes, back to back. */
  bytes: ArrayBuffer;
}

const FIELDS = 8;

/**
 * Packs a batch for a worker (see {@linkcode PackedBatch}); transfer `numbers.buffer` and
 * `bytes` with it.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { packBatch, unpackBatch } from "./copy_job.ts";
 * const dir = { path: "/d", dev: 1, ino: 2 };
 * const job = {
 *   id: 7, src: "", tmp: "/d/.t", dst: "/d/a", size: 2, mtimeMs: 5, mode: 0o644, umask: 0o22,
 *   data: new Uint8Array([1, 2]), dir,
 * };
 * const [back] = unpackBatch(packBatch([job]));
 * strictEqual(back?.dst, "/d/a");
 * strictEqual(back?.data?.[1], 2);
 * ```
 *
 * @param jobs The jobs.
 * @param spare A buffer for the bytes when it is large enough (one a worker handed back): memory
 * used again costs no page faults, as a fresh buffer per batch did (one per 4 KiB received).
 * @returns The packed batch.
 */
export function packBatch(jobs: readonly CopyJob[], spare?: ArrayBuffer): PackedBatch {
  const copies: CopyJob[] = [];
  const writes: CopyJob[] = [];
  for (const job of jobs) {
    const prefix = job.dir === undefined ? "" : `${job.dir.path}/`;
    const packable = job.data !== undefined && job.dir !== undefined &&
      job.tmp.startsWith(prefix) && job.dst.startsWith(prefix) &&
      !job.tmp.includes("/", prefix.length) && !job.dst.includes("/", prefix.length);
    (packable ? writes : copies).push(job);
  }
  const dirs: NonNullable<CopyJob["dir"]>[] = [];
  const dirIndex = new Map<string, number>();
  const names: string[] = [];
  const numbers = new Float64Array(writes.length * FIELDS);
  const total = writes.reduce((sum, job) => sum + job.size, 0);
  const bytes = spare !== undefined && spare.byteLength >= total
    ? new Uint8Array(spare, 0, total)
    : new Uint8Array(total);
  let offset = 0;
  writes.forEach((job, i) => {
    const dir = job.dir!;
    const key = `${dir.dev}:${dir.ino}:${dir.parent?.ino ?? ""}:${dir.path}`;
    let index = dirIndex.get(key);
    if (index === undefined) {
      index = dirs.push(dir) - 1;
      dirIndex.set(key, index);
    }
    const cut = dir.path.length + 1;
    names.push(job.tmp.slice(cut), job.dst.slice(cut));
    numbers.set(
      [job.id, index, job.size, job.mtimeMs, job.mode, job.umask, job.uid ?? -1, job.gid ?? -1],
      i * FIELDS,
    );
    bytes.set(job.data!, offset);
    offset += job.size;
  });
  return { copies, dirs, names, numbers, bytes: bytes.buffer };
}

/**
 * Unpacks a batch made by {@linkcode packBatch}: the plain jobs first, then the received files.
 * @param batch The packed batch.
 * @returns The jobs.
 */
export function unpackBatch(batch: PackedBatch): CopyJob[] {
  const jobs = [...batch.copies];
  const { dirs, names, numbers } = batch;
  let offset = 0;
  for (let i = 0; i * FIELDS < numbers.length; i++) {
    const at = i * FIELDS;
    const dir = dirs[numbers[at + 1]!]!;
    const size = numbers[at + 2]!;
    const uid = numbers[at + 6]!;
    const gid = numbers[at + 7]!;
    jobs.push({
      id: numbers[at]!,
      src: "",
      tmp: `${dir.path}/${names[2 * i]}`,
      dst: `${dir.path}/${names[2 * i + 1]}`,
      size,
      mtimeMs: numbers[at + 3]!,
      mode: numbers[at + 4]!,
      umask: numbers[at + 5]!,
      data: new Uint8Array(batch.bytes, offset, size),
      dir,
      ...(uid >= 0 ? { uid } : {}),
      ...(gid >= 0 ? { gid } : {}),
    });
    offset += size;
  }
  return jobs;
}
