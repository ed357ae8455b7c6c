/**
 * How the DESTINATION gets the payload of the files it needs: copied from a source tree in the
 * same process by the copy workers ({@linkcode LocalCopyIntake}), or asked of a remote source and
 * received from the data plane or in `chunk` frames ({@linkcode WireIntake}). Either way each file
 * is written through the planner, and `landed` hears of every file once.
 *
 * @module
 */

import { TimeoutError } from "../transport/deadline.ts";
import type { SharedPace } from "../shared_pace.ts";
import { type CopyJobQueue, CopyWorkerPool } from "../copy_pool.ts";
import { type CopyJob, type CopyResult, fillFromMemory } from "../copy_job.ts";
import { describeError, ProtocolError, TransferInterruptedError } from "../errors.ts";
import { writeFully } from "../file_write.ts";
import { AsyncQueue } from "../queue.ts";
import type { TransferStats } from "../stats.ts";
import { temporaryName } from "../tree.ts";
import type { DataConn, PayloadSink } from "../transport/data_plane.ts";
import type { Entry } from "../types.ts";
import type { FramePort, Need } from "./frames.ts";
import { currentUmaskBits, type DestinationPlanner, type WriteFileOptions } from "./planner.ts";
import { deltaWanted, RELEASE_ASIDE_MIN_BYTES } from "./plan.ts";
import { blockSizeFor, computeSignature, type SignatureShape } from "../delta/signature.ts";

/** Makes the writer-thread queue of one session, given where its results go. */
export type WriterQueueFactory = (
  onDone: (job: CopyJob, result: CopyResult) => void,
) => CopyJobQueue;

/** Called once per requested file: `ok` when it is in place. */
export type LandedCallback = (id: number, entry: Entry, ok: boolean) => void;

/** Where a needed file's payload comes from. */
export interface PayloadIntake {
  /**
   * Fetches one file's payload and writes it (resolves once queued; waits when saturated).
   * @param id Manifest id.
   * @param entry The file.
   * @param basis What the destination holds for it: its old copy's size, or a partial file an
   * interrupted run left (its name in the file's directory, and its size).
   */
  request(id: number, entry: Entry, basis?: FileBasis): Promise<void>;
  /**
   * Marks a group boundary: sends or starts what was requested so far.
   * @param last No more requests will come: wait for everything requested to be asked for.
   */
  endBatch(last?: boolean): Promise<void>;
  /**
   * Takes one `chunk` frame (payload in the control stream). It may return a promise that
   * resolves once the chunks not yet written are few enough again: await it before reading the
   * next frame, so that the peer cannot queue payload in memory faster than the disk takes it.
   * @throws {ProtocolError} When this intake takes no chunks or the chunk was not asked for.
   */
  onChunk(id: number, offset: number, data: Uint8Array, last: boolean): void | Promise<void>;
  /**
   * Resolves once every requested file has landed or failed.
   * @param reported Paths the source reported it could not send (its data's end): a file asked
   * for that never came is counted as failed, unless it is among them.
   */
  finish(reported?: ReadonlySet<string>): Promise<void>;
  /**
   * The session failed (the peer went away, say): stops every file still being received, so
   * that its temporary is closed and removed, and stops waiting for payload.
   */
  abort?(): void;
  /**
   * Rejects when the payload stalled (a data connection made no progress for its idle limit),
   * so that the session fails then, not after the control stream's own limit as well; never
   * settles otherwise.
   */
  readonly stalled?: Promise<never>;
}

/** What the destination already holds of a file it asks for (see {@linkcode PayloadIntake}). */
export interface FileBasis {
  /** A partial file of this source version (its name beside the file); absent: the old copy. */
  partial?: string;
  /** Its size. */
  size: number;
}

/**
 * Whether a file written over `basis` sets the old version aside first (see
 * `TreeDir.setAside`): an old copy (not a partial file) of {@linkcode RELEASE_ASIDE_MIN_BYTES}
 * or more.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { releasesOld } from "./intake.ts";
 * strictEqual(releasesOld({ size: 1 << 30 }), true);
 * strictEqual(releasesOld({ size: 1 << 30, partial: ".blit-part-x" }), false);
 * strictEqual(releasesOld({ size: 4096 }), false);
 * strictEqual(releasesOld(undefined), false);
 * ```
 *
 * @param basis What the destination has under the file's name, if anything.
 * @returns Whether the old version is set aside.
 */
export function releasesOld(basis: FileBasis | undefined): boolean {
  return basis !== undefined && basis.partial === undefined &&
    basis.size >= RELEASE_ASIDE_MIN_BYTES;
}

/** A source tree in the same process, as the local intake reads it. */
export interface LocalSource {
  /** The local path of a manifest entry, or `null` when the tree has no local paths. */
  localPath(rel: string): string | null;
  /** Opens a manifest file for reading. */
  open(rel: string): Deno.FsFile;
}

/**
 * Copies files from a source tree in this process: by the copy workers (synchronous copies on
 * worker threads, the fast path), or through the planner with a streamed copy when either tree
 * has no local paths.
 */
export class LocalCopyIntake implements PayloadIntake {
  /** Whether copies get the source's owners (read once: this is used per file). */
  readonly #keepsOwners: boolean;
  readonly #planner: DestinationPlanner;
  readonly #source: LocalSource;
  readonly #stats: TransferStats;
  readonly #landed: LandedCallback;
  readonly #copies: CopyWorkerPool;
  readonly #jobs = new Map<number, { id: number; entry: Entry }>();
  readonly #streamed: Promise<void>[] = [];
  #jobCounter = 0;

  /**
   * Creates the intake.
   * @param planner The destination's planner.
   * @param source The source tree.
   * @param options Counters, the landed callback, the copy worker count and the pace.
   */
  constructor(
    planner: DestinationPlanner,
    source: LocalSource,
    options: {
      stats: TransferStats;
      landed: LandedCallback;
      copyWorkers: number;
      pace?: SharedPace;
    },
  ) {
    this.#planner = planner;
    this.#source = source;
    this.#stats = options.stats;
    this.#landed = options.landed;
    this.#keepsOwners = planner.keepsOwners;
    this.#copies = new CopyWorkerPool((job, error) => {
      const owner = this.#jobs.get(job.id);
      this.#jobs.delete(job.id);
      if (!owner) return;
      if (error !== null) this.#stats.fail(owner.entry.path || ".", error);
      else this.#planner.countWritten(owner.entry);
      this.#landed(owner.id, owner.entry, error === null);
    }, {
      workers: options.copyWorkers,
      ...(options.pace ? { pace: options.pace } : {}),
      progress: {
        stats: options.stats,
        // A single file's root entry has no path: it is known by its final name.
        name: (job) =>
          this.#jobs.get(job.id)?.entry.path || job.dst.slice(job.dst.lastIndexOf("/") + 1),
      },
    });
  }

  async request(id: number, entry: Entry, basis?: FileBasis): Promise<void> {
    // A file that replaces an old version keeps it as a backup right before its rename, which
    // the planner makes on this thread: it is streamed (new files still go to the workers).
    const src = basis !== undefined && this.#planner.keepsBackups
      ? null
      : this.#source.localPath(entry.path);
    let paths: { tmp: string; dst: string; resume: boolean } | null = null;
    if (src !== null) {
      try {
        const { dir, name } = this.#planner.holder(entry.path);
        const dst = dir.localPath(name);
        // A large file goes under a partial name (a kill leaves it resumable), or continues the
        // partial file an interrupted run left.
        const resume = basis?.partial !== undefined;
        const temp = basis?.partial ??
          temporaryName(name, this.#planner.resumable(entry) ? entry : undefined).name;
        const tmp = dir.localPath(temp);
        if (dst !== null && tmp !== null) paths = { tmp, dst, resume };
      } catch (error) {
        this.#stats.fail(entry.path, describeError(error));
        this.#landed(id, entry, false);
        return;
      }
    }
    if (src === null || paths === null) {
      this.#streamed.push(this.#stream(id, entry, basis));
      return;
    }
    const job = this.#jobCounter++;
    this.#jobs.set(job, { id, entry });
    await this.#copies.add({
      id: job,
      src,
      tmp: paths.tmp,
      dst: paths.dst,
      size: entry.size,
      mtimeMs: entry.mtimeMs,
      mode: this.#planner.modeOf(entry),
      umask: currentUmaskBits(),
      uid: this.#keepsOwners ? entry.uid : undefined,
      gid: this.#keepsOwners ? entry.gid : undefined,
      ...(paths.resume ? { resume: true } : {}),
      ...(releasesOld(basis) ? { releaseOld: true } : {}),
    });
  }

  async #stream(id: number, entry: Entry, basis?: FileBasis): Promise<void> {
    const ok = await this.#planner.writeFile(
      entry,
      async (file) => {
        using source = this.#source.open(entry.path);
        await source.readable.pipeTo(file.writable, { preventClose: true });
      },
      basis?.partial !== undefined
        ? { resumeFrom: basis.partial }
        : { releaseOld: releasesOld(basis) },
    );
    this.#landed(id, entry, ok);
  }

  endBatch(): Promise<void> {
    return this.#copies.endBatch();
  }

  onChunk(): void {
    throw new ProtocolError("Cannot accept payload in the control stream: copying locally");
  }

  async finish(): Promise<void> {
    await this.#copies.finish();
    await Promise.all(this.#streamed);
  }
}

/** How a {@linkcode WireIntake} reaches the data plane. */
export interface DataPlaneAccess {
  /** Opens this side's data-plane connections (none: payload comes in `chunk` frames). */
  open(): Promise<DataConn[]>;
  /**
   * Reads one connection's records into the sink until its end; `signal` aborts it (the
   * connection is closed and the file being received fails).
   */
  receive(conn: DataConn, sink: PayloadSink, signal: AbortSignal): Promise<unknown>;
  /** Payload arrived in the control stream: stop waiting for data connections. */
  abandon(): void;
}

interface ChunkWrite {
  queue: AsyncQueue<Uint8Array>;
  written: number;
  /** The announced size: no more is taken. */
  size: number;
  discard: boolean;
}

/** Files the destination asks for with a block signature before the first of them has come. */
export const SIGNED_AHEAD = 8;

/**
 * Bytes of `chunk` payload received but not yet written to disk before the intake makes the
 * session wait (and so the control stream stop reading).
 */
export const CHUNK_BACKLOG_BYTES = 16 * 1024 * 1024;

/**
 * Asks a remote source for files (`needs` frames, sent per group) and writes what arrives, from
 * the data plane or from `chunk` frames. Every id must have been asked for, and arrives once.
 *
 * A file the delta rule ({@linkcode deltaWanted}) picks is asked for with the block signature of
 * the destination's old copy, computed one file at a time beside the transfer; the source may
 * then send a delta, rebuilt here from that copy.
 */
export class WireIntake implements PayloadIntake {
  readonly #port: FramePort;
  readonly #planner: DestinationPlanner;
  readonly #stats: TransferStats;
  readonly #landed: LandedCallback;
  readonly #data: DataPlaneAccess | null;
  readonly #granted = new Map<number, Entry>();
  readonly #chunks = new Map<number, ChunkWrite>();
  readonly #writes: Promise<void>[] = [];
  readonly #stop = new AbortController();
  #needs: Need[] = [];
  #receiving: Promise<void> | null = null;
  readonly #stall = Promise.withResolvers<never>();
  /** See {@linkcode PayloadIntake.stalled}. */
  readonly stalled: Promise<never> = this.#stall.promise;
  /** Chunk bytes received and not yet written, and who waits for them to shrink. */
  #backlog = 0;
  #backlogWaiters: (() => void)[] = [];
  /** Writer threads for shard members, started when the first member comes. */
  #writers: CopyJobQueue | null = null;
  readonly #makeWriters: WriterQueueFactory;
  readonly #writing = new Map<number, { id: number; entry: Entry }>();
  #writeCounter = 0;
  readonly #wholeFile: boolean;
  /** The signatures sent, by id: what a delta of that file is rebuilt against, and from which file. */
  readonly #bases = new Map<number, { shape: SignatureShape; name: string }>();
  /** The partial files the requested files continue, by id (removed once the file is in place). */
  readonly #resumes = new Map<number, string>();
  /** Granted files that replace an old version of {@linkcode RELEASE_ASIDE_MIN_BYTES} or more. */
  readonly #replacing = new Set<number>();
  /** Signatures being computed, one file at a time; each sends its need when done. */
  #signing: Promise<void> = Promise.resolve();
  /** Files asked for with a signature whose payload has not come yet. */
  readonly #signed = new Set<number>();
  /** Who waits for {@linkcode SIGNED_AHEAD} to allow another signature. */
  #signWaiters: (() => void)[] = [];

  /**
   * Creates the intake.
   * @param port The channel to the source.
   * @param planner The destination's planner.
   * @param options Counters, the landed callback, the data plane (`null`: chunks only), and the
   *   writer threads for shard members (default: two of the session's own).
   */
  constructor(
    port: FramePort,
    planner: DestinationPlanner,
    options: {
      stats: TransferStats;
      landed: LandedCallback;
      data: DataPlaneAccess | null;
      writers?: WriterQueueFactory;
      wholeFile?: boolean;
    },
  ) {
    this.#wholeFile = options.wholeFile ?? false;
    this.#makeWriters = options.writers ??
      ((onDone) => new CopyWorkerPool(onDone, { workers: 2 }));
    this.#port = port;
    this.#planner = planner;
    this.#stats = options.stats;
    this.#landed = options.landed;
    this.#data = options.data;
  }

  request(id: number, entry: Entry, basis?: FileBasis): Promise<void> {
    if (this.#granted.has(id) || this.#chunks.has(id)) {
      throw new ProtocolError(`Cannot accept id ${id} twice: it already names another file`);
    }
    this.#granted.set(id, entry);
    if (basis?.partial !== undefined) this.#resumes.set(id, basis.partial);
    else if (releasesOld(basis)) this.#replacing.add(id);
    const delta = deltaWanted({
      remote: this.#data !== null,
      wholeFile: this.#wholeFile,
      size: entry.size,
      basisSize: basis?.size ?? null,
    });
    if (!delta) this.#needs.push({ id, path: entry.path });
    else this.#signing = this.#signing.then(() => this.#askDelta(id, entry, basis?.partial));
    return Promise.resolve();
  }

  /**
   * Signs the destination's basis of a file (its old copy, or the partial file it resumes) and
   * asks for the file with that signature (or, when the basis cannot be read, without one).
   */
  async #askDelta(id: number, entry: Entry, partial: string | undefined): Promise<void> {
    // A few files signed ahead, no more: the source holds every signature until its file is
    // sent (and refuses to hold more than PENDING_SIGNATURES_MAX bytes of them).
    while (this.#signed.size >= SIGNED_AHEAD && !this.#stop.signal.aborted) {
      await new Promise<void>((resolve) => this.#signWaiters.push(resolve));
    }
    if (this.#stop.signal.aborted) return;
    const need: Need = { id, path: entry.path, ...(partial === undefined ? {} : { resume: true }) };
    // The data connections open while the basis is signed.
    this.#startReceiving();
    try {
      const { dir, name } = this.#planner.holder(entry.path);
      using file = dir.openRead(partial ?? name);
      const size = (await file.stat()).size;
      if (blockSizeFor(size) !== null && size > 0) {
        const signature = await computeSignature(file, { size });
        need.basis = signature;
        this.#signed.add(id);
        const { blockSize, basisSize, blockCount } = signature;
        this.#bases.set(id, { shape: { blockSize, basisSize, blockCount }, name: partial ?? name });
      }
    } catch { /* the old copy went or cannot be read: the file comes whole */ }
    await this.#port.send({ type: "needs", needs: [need] });
  }

  async endBatch(last = false): Promise<void> {
    if (last) await this.#signing;
    if (this.#needs.length === 0) return;
    const needs = this.#needs;
    this.#needs = [];
    this.#startReceiving();
    await this.#port.send({ type: "needs", needs });
  }

  #take(id: number): Entry {
    const entry = this.#forget(id);
    if (!entry) throw new ProtocolError(`Cannot accept payload for id ${id}: it was not asked for`);
    return entry;
  }

  /**
   * A file's payload came (or will not): it is no longer granted, and a signature it was asked
   * with no longer waits.
   * @returns The file, when it was granted.
   */
  #forget(id: number): Entry | undefined {
    const entry = this.#granted.get(id);
    this.#granted.delete(id);
    this.#resumes.delete(id);
    this.#replacing.delete(id);
    if (this.#signed.delete(id)) { for (const wake of this.#signWaiters.splice(0)) wake(); }
    return entry;
  }

  /**
   * How a granted file is written: the partial file it continues, if any, and whether it
   * replaces a large old version (asked once).
   */
  #writeOptions(id: number): WriteFileOptions {
    const resumeFrom = this.#resumes.get(id);
    const releaseOld = this.#replacing.delete(id);
    this.#resumes.delete(id);
    return {
      ...(resumeFrom === undefined ? {} : { resumeFrom }),
      ...(releaseOld ? { releaseOld } : {}),
    };
  }

  #startReceiving(): void {
    const data = this.#data;
    if (this.#receiving || !data) return;
    const sink: PayloadSink = {
      expect: (id) => {
        const entry = this.#granted.get(id);
        return entry ? { size: entry.size } : null;
      },
      writeFile: async (id, _size, fill) => {
        const options = this.#writeOptions(id); // before #take, which forgets them
        const entry = this.#take(id);
        this.#landed(id, entry, await this.#planner.writeFile(entry, fill, options));
      },
      fileFailed: (id, message) => {
        const entry = this.#forget(id);
        this.#stats.fail(entry?.path ?? `#${id}`, message);
        if (entry) this.#landed(id, entry, false);
      },
      skipped: (id) => {
        const entry = this.#forget(id);
        this.#stats.fail(entry?.path ?? `#${id}`, "Cannot copy: the source vanished");
        if (entry) this.#landed(id, entry, false);
      },
      writeMember: (id, data) => this.#writeMember(id, this.#take(id), data),
      basis: (id) => {
        const basis = this.#bases.get(id);
        this.#bases.delete(id);
        const entry = this.#granted.get(id);
        if (basis === undefined || entry === undefined) return null;
        return {
          shape: basis.shape,
          open: () => this.#planner.holder(entry.path).dir.openRead(basis.name),
        };
      },
      endShard: () => this.#writers?.endBatch() ?? Promise.resolve(),
    };
    this.#port.busy++;
    const signal = this.#stop.signal;
    this.#receiving = (async () => {
      try {
        const conns = await data.open();
        if (signal.aborted) {
          for (const conn of conns) conn.close();
          return;
        }
        await Promise.all(conns.map((conn) => data.receive(conn, sink, signal)));
      } finally {
        this.#port.busy--;
      }
    })();
    this.#receiving.catch((error: unknown) => {
      if (!(error instanceof TimeoutError)) return;
      // Handled here too: the session may not be waiting on it at this moment.
      this.#stall.promise.catch(() => {});
      this.#stall.reject(error);
    });
  }

  /**
   * Writes a shard member on a writer thread when its directory can give a write target (see
   * {@linkcode TreeDir.writeTarget}), else through the planner on this thread.
   */
  async #writeMember(id: number, entry: Entry, data: Uint8Array): Promise<void> {
    const job = this.#planner.writeJob(entry, data);
    if (job === "failed") return this.#landed(id, entry, false);
    if (job === null) {
      const ok = await this.#planner.writeFile(entry, fillFromMemory(id, data));
      return this.#landed(id, entry, ok);
    }
    const writers = this.#writers ??= this.#makeWriters((done, error) => {
      const owner = this.#writing.get(done.id);
      this.#writing.delete(done.id);
      if (!owner) return;
      this.#landed(owner.id, owner.entry, this.#planner.wrote(owner.entry, error));
    });
    const key = this.#writeCounter++;
    this.#writing.set(key, { id, entry });
    await writers.add({ ...job, id: key });
  }

  onChunk(id: number, offset: number, data: Uint8Array, last: boolean): void | Promise<void> {
    this.#data?.abandon();
    let write = this.#chunks.get(id);
    if (!write) {
      if (offset !== 0) throw new ProtocolError(`Cannot accept data for id ${id}: bad offset`);
      const options = this.#writeOptions(id); // before #take, which forgets them
      const entry = this.#take(id);
      const state: ChunkWrite = {
        queue: new AsyncQueue(),
        written: 0,
        size: entry.size,
        discard: false,
      };
      this.#writes.push((async () => {
        const ok = await this.#planner.writeFile(entry, async (file) => {
          for await (const piece of state.queue) {
            try {
              writeFully(file, piece);
            } finally {
              this.#written(piece.length);
            }
          }
          if (this.#stop.signal.aborted) {
            throw new TransferInterruptedError(
              "Cannot copy: the session ended before the file was complete",
            );
          }
          if (state.discard) throw new Error("Cannot copy: the source changed during the transfer");
        }, options);
        // Whatever was not written (the write failed, or never started) is dropped: it must no
        // longer hold the session, and later chunks of this file are dropped too.
        state.queue.close();
        for await (const piece of state.queue) this.#written(piece.length);
        this.#landed(id, entry, ok);
      })());
      this.#chunks.set(id, state);
      write = state;
    }
    // A file whose write failed drops the rest of its chunks. An honest source sends each file
    // in order and never more than it announced: anything else is a lie, and ends the session
    // before a byte more is queued (the disk is not filled beyond the announced size).
    if (write.queue.closed) write.discard = true;
    else if (offset !== write.written) {
      throw new ProtocolError(`Cannot accept data for id ${id}: bad offset`);
    } else if (write.written + data.length > write.size) {
      throw new ProtocolError(
        `Cannot accept data for id ${id}: more than the ${write.size} bytes announced`,
      );
    } else if (data.length > 0) {
      write.queue.push(data);
      write.written += data.length;
      this.#backlog += data.length;
    }
    if (last) {
      write.queue.close();
      this.#chunks.delete(id);
    }
    if (this.#backlog <= CHUNK_BACKLOG_BYTES) return;
    return new Promise<void>((resolve) => this.#backlogWaiters.push(resolve));
  }

  /** A queued chunk was written (or dropped): wakes the session once the backlog is small. */
  #written(bytes: number): void {
    this.#backlog -= bytes;
    if (this.#backlog > CHUNK_BACKLOG_BYTES) return;
    for (const wake of this.#backlogWaiters.splice(0)) wake();
  }

  async finish(reported: ReadonlySet<string> = new Set()): Promise<void> {
    if (this.#receiving) await this.#receiving;
    await this.#writers?.finish();
    // The data's end came: a file whose last chunk never did is short (its write fails).
    for (const write of this.#chunks.values()) write.queue.close();
    this.#chunks.clear();
    await Promise.all(this.#writes);
    // A file asked for and never sent did not land: it is a failure, not a silent gap.
    for (const [id, entry] of this.#granted) {
      if (!reported.has(entry.path)) {
        this.#stats.fail(entry.path || ".", "Cannot copy: the source never sent it");
      }
      this.#landed(id, entry, false);
    }
    this.#granted.clear();
  }

  abort(): void {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort(new Error("Cannot receive payload: the session ended"));
    for (const wake of this.#signWaiters.splice(0)) wake();
    void this.#writers?.close();
    for (const write of this.#chunks.values()) {
      write.discard = true;
      write.queue.close();
    }
    this.#chunks.clear();
    for (const wake of this.#backlogWaiters.splice(0)) wake();
  }
}
