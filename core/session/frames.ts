/**
 * The frames a session's SOURCE and DESTINATION roles exchange, as plain objects, and the
 * {@linkcode FramePort} they exchange them through. A local run joins the two roles with
 * {@linkcode localPortPair} (no serialisation); a remote run converts each frame to protobuf at
 * the wire edge (`core/transport/stream_port.ts`), and nowhere else.
 *
 * Order of a session (S = source, D = destination, whichever process each runs in):
 *
 * 1. S `root` (the root entry, its name, and whether only its contents travel).
 * 2. S `manifest`* as it walks, then `manifestEnd`; D `needs`* and `checksumRequest`* as it
 *    plans, S `checksums`* in answer; D `needEnd` once the manifest ended and every digest came.
 * 3. S payload for every need (data plane, or `chunk` frames), then `dataEnd`. D `filesDone`*
 *    for the files it wrote or verified, when the source asked for them (move).
 * 4. D decides deletions; when it needs consent it sends `consentRequest`, and the side that
 *    holds the user answers `consentReply` (sending `keepalive` while a person decides).
 * 5. D `summary`, then S `summary`. Either side may send `abort` at any time.
 *
 * @module
 */

import { TimeoutError } from "../transport/deadline.ts";
import { startTimer } from "../timer.ts";
import type { Signature } from "../delta/signature.ts";
import type { CompareMode, Entry, TransferFailure } from "../types.ts";
import type { TransferEvent } from "./planner.ts";

/** Largest payload slice one `chunk` frame carries (payload in the control stream). */
export const CHUNK_BYTES = 1024 * 1024;

/** The source root: its entry (path `""`), its name, and whether only its contents travel. */
export interface SourceRoot {
  /** The root entry, path `""`. */
  entry: Entry;
  /** The root's base name (used when it lands *inside* a destination directory). */
  name: string;
  /** `SRC/`: the contents of the directory travel, not the directory itself. */
  contentsOnly: boolean;
  /**
   * Several sources merged into one root (`blit copy a b/ c DST/`; `contentsOnly` then true):
   * the root is no directory of the source, so the destination's keeps its own attributes.
   */
  merged?: boolean;
}

/** One manifest entry with its session id. */
export interface ManifestItem extends Entry {
  /** Session-unique id (the root is 0). */
  id: number;
}

/** One directory of the manifest: its children, sorted by name. */
export interface ManifestGroup {
  /** Relative path of the directory (`""` for the root). */
  dir: string;
  /** The children that passed the filter, sorted by name. */
  entries: ManifestItem[];
  /** False when the directory could not be listed completely. */
  complete: boolean;
}

/** A file the destination wants. */
export interface Need {
  /** Manifest id. */
  id: number;
  /** Its path, echoed so the source can check it against the id. */
  path: string;
  /**
   * The block signature of the destination's basis for it (its old copy): the source may send
   * a delta against it instead of the whole file.
   */
  basis?: Signature;
  /** The basis is a partial file of this very source version (a resumed transfer). */
  resume?: boolean;
}

/** One digest of a source file (checksum compare). */
export interface FileDigest {
  /** Manifest id. */
  id: number;
  /** xxHash3-64 as 16 hex digits, `""` when it could not be computed. */
  digest: string;
  /** Why it is missing, `""` when present. */
  error: string;
}

/**
 * The destination's word on one file or link it was asked about: written or already equal, and
 * verified (`ok`), with what it verified, so that move can check the copy against its source.
 */
export interface FileDone {
  /** Manifest id. */
  id: number;
  /** The copy is in place and verified. */
  ok: boolean;
  /** Size of the verified copy. */
  size: number;
  /** Modification time of the verified copy, in milliseconds. */
  mtimeMs: number;
  /** Digest of the verified copy in checksum mode, else `""`. */
  digest: string;
  /** Why it is not ok (`""` when ok). */
  message: string;
}

/** Why consent to deletions was not given. */
export type ConsentRefusal =
  /** The user answered no. */
  | "declined"
  /** No terminal to ask on, and no `--yes`. */
  | "no-terminal"
  /** A library caller passed no consent callback. */
  | "not-given"
  /** Nobody answered within the consent deadline. */
  | "timeout";

/** The counters one side reports at the end. */
export interface SideSummary {
  /** Source entries examined (counted by the source). */
  examined: number;
  /** Files and links written (destination). */
  transferred: number;
  /** Payload bytes written (destination). */
  bytes: number;
  /** Entries deleted by mirror (destination). */
  deleted: number;
  /** Sources removed by move (source). */
  sourcesRemoved: number;
  /** Per-file failures this side counted. */
  failed: number;
  /** The first of them. */
  failures: TransferFailure[];
  /** Why deletions were skipped (destination), else `null`. */
  deletionsSkipped: string | null;
}

/** Why a session was aborted, machine-readable (see `core/endpoint.ts` for refusals). */
export interface AbortInfo {
  /** A refusal reason (`core/endpoint.ts`) or `protocol`, `io`, `internal`, `cancelled`. */
  code: string;
  /** One line for humans. */
  message: string;
  /** The path or value the refusal is about (rendered by the client). */
  subject: string;
}

/** Everything the roles say to each other after the handshake. */
export type Frame =
  | { type: "root"; root: SourceRoot }
  | { type: "manifest"; groups: ManifestGroup[] }
  | { type: "manifestEnd"; scanComplete: boolean; entries: number; bytes: number }
  | { type: "needs"; needs: Need[] }
  | { type: "needEnd"; needs: number; bytes: number }
  | { type: "checksumRequest"; ids: number[] }
  | { type: "checksums"; digests: FileDigest[] }
  | { type: "chunk"; id: number; offset: number; data: Uint8Array; last: boolean }
  | { type: "filesDone"; files: FileDone[] }
  | { type: "events"; events: TransferEvent[] }
  | { type: "dataEnd"; failures: TransferFailure[] }
  | { type: "consentRequest"; paths: string[]; total: number }
  | { type: "consentReply"; granted: boolean; refusal: ConsentRefusal | null }
  | { type: "keepalive" }
  | { type: "summary"; summary: SideSummary }
  | { type: "abort"; abort: AbortInfo };

/** The type names of {@linkcode Frame}. */
export type FrameType = Frame["type"];

/**
 * A bidirectional channel of {@linkcode Frame}s. Remote ports have an idle deadline that is
 * paused while payload moves on the data plane (`busy > 0`).
 */
export interface FramePort {
  /**
   * Sends a frame.
   * @returns A promise that resolves when the port can take more (back-pressure).
   */
  send(frame: Frame): Promise<void>;
  /**
   * Receives the next frame.
   * @param timeoutMs Longest wait (default: the port's idle deadline).
   * @returns The frame, or `null` when the peer ended the stream.
   * @throws {Error} When the stream failed or the deadline passed.
   */
  next(timeoutMs?: number): Promise<Frame | null>;
  /** Payload transfers in progress; while above 0 the idle deadline is paused. */
  busy: number;
  /**
   * Manifest entries worth batching into one frame: 0 sends each group at once (in process),
   * more amortises a network frame.
   */
  readonly batchEntries: number;
  /** Ends this side of the stream. */
  close(): void;
}

/** What the two roles agree on before the first frame (the Open of a remote session). */
export interface SessionTerms {
  /** The verb. */
  operation: "copy" | "mirror" | "move";
  /** How files present on both sides are compared. */
  compare: CompareMode;
  /** Never overwrite an existing destination entry. */
  ignoreExisting: boolean;
  /** Plan and report only. */
  dryRun: boolean;
  /** Most deletions a mirror may make (more: none at all); `null` for no limit. */
  maxDelete: number | null;
  /** Send every file whole: no block signatures, no deltas (`--whole-file`). */
  wholeFile: boolean;
  /**
   * Write large files under partial names, keep them when interrupted, and continue from them
   * (off: `--no-resume`).
   */
  resume: boolean;
  /** Leave a destination file alone when it is newer than the source's (`--update`). */
  update: boolean;
  /** Leave alone source files smaller than this (`--min-size`); `null` for no limit. */
  minSize: number | null;
  /** Leave alone source files larger than this (`--max-size`); `null` for no limit. */
  maxSize: number | null;
  /** Mirror: delete destination entries the filter excludes too (`--delete-excluded`). */
  deleteExcluded: boolean;
  /** The destination reports each completed action back to the source (`-v`, `-i`). */
  reportEvents: boolean;
  /** The source does not cross into other file systems (`-x`). */
  oneFileSystem: boolean;
  /**
   * Replaced and deleted destination files are kept (`-b`, `--backup-dir`, `--suffix`): `dir` is
   * relative to the destination root (`""`: beside the file), `suffix` appended to the name.
   * `null`: no backups.
   */
  backup: BackupTerms | null;
  /**
   * Keep numeric owners and groups: the source sends them, the destination applies them (it
   * must run as root; a daemon only where its module says `keep_owner = true`).
   */
  keepOwner: boolean;
  /**
   * Keep hard links (`-H`): the source gives each further name of a file it already announced
   * that file's path (`Entry.hardLink`), and the destination links it instead of asking for it.
   */
  hardLinks: boolean;
}

/** Where backups of replaced and deleted files go (see {@linkcode SessionTerms.backup}). */
export interface BackupTerms {
  /** Directory relative to the destination root (a wire path), or `""` for beside the file. */
  dir: string;
  /** Appended to each backup's name. */
  suffix: string;
}

/** A bounded FIFO of frames for one direction of a {@linkcode localPortPair}. */
class FrameQueue {
  readonly #items: Frame[] = [];
  readonly #capacity: number;
  #closed = false;
  #takers: ((frame: Frame | null) => void)[] = [];
  #givers: (() => void)[] = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  put(frame: Frame): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Cannot send: the session ended"));
    const taker = this.#takers.shift();
    if (taker) {
      taker(frame);
      return Promise.resolve();
    }
    this.#items.push(frame);
    if (this.#items.length < this.#capacity) return Promise.resolve();
    return new Promise((resolve) => this.#givers.push(resolve));
  }

  take(timeoutMs?: number): Promise<Frame | null> {
    const frame = this.#items.shift();
    if (frame) {
      this.#givers.shift()?.();
      return Promise.resolve(frame);
    }
    if (this.#closed) return Promise.resolve(null);
    // No timer unless asked for one: a local run needs none.
    if (timeoutMs === undefined) return new Promise((resolve) => this.#takers.push(resolve));
    return new Promise((resolve, reject) => {
      const taker = (value: Frame | null): void => {
        timer.cancel();
        resolve(value);
      };
      const timer = startTimer(timeoutMs, () => {
        this.#takers.splice(this.#takers.indexOf(taker), 1);
        reject(new TimeoutError("continue the session (the peer sent nothing)", timeoutMs));
      });
      this.#takers.push(taker);
    });
  }

  close(): void {
    this.#closed = true;
    for (const taker of this.#takers.splice(0)) taker(null);
    for (const giver of this.#givers.splice(0)) giver();
  }
}

/**
 * Two joined in-process ports: what one sends, the other receives, as the same objects. Each
 * direction holds at most `capacity` frames, so a fast walker waits for the planner. `next()`
 * waits without a deadline unless given one.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { localPortPair } from "./frames.ts";
 * const [a, b] = localPortPair();
 * await a.send({ type: "keepalive" });
 * deepStrictEqual(await b.next(), { type: "keepalive" });
 * a.close();
 * deepStrictEqual(await b.next(), null);
 * ```
 *
 * @param capacity Frames queued per direction before `send` waits.
 * @returns The two ends.
 */
export function localPortPair(capacity = 16): [FramePort, FramePort] {
  const ab = new FrameQueue(capacity);
  const ba = new FrameQueue(capacity);
  const end = (out: FrameQueue, inbox: FrameQueue): FramePort => ({
    busy: 0,
    batchEntries: 0,
    send: (frame) => out.put(frame),
    next: (timeoutMs) => inbox.take(timeoutMs),
    close: () => out.close(),
  });
  return [end(ab, ba), end(ba, ab)];
}
