/**
 * The SOURCE role of a session, the same on every route: it resolves its root in a
 * {@linkcode Tree}, walks it and streams the manifest, answers needs with payload and checksum
 * requests with digests, removes each moved source once the destination verified its copy (move),
 * asks the user for consent when the destination wants to delete (when this side holds the
 * user), and exchanges summaries.
 *
 * @module
 */

import {
  absolutePath,
  type EndpointTexts,
  type LocalEndpoint,
  TransferRefusal,
} from "../endpoint.ts";
import { describeError, PathEscapeError, PathInvalidError, ProtocolError } from "../errors.ts";
import type { EntryFilter } from "../filter.ts";
import type { FileHasher } from "../hash.ts";
import { AsyncQueue } from "../queue.ts";
import type { TransferStats } from "../stats.ts";
import { splitPath, type Tree, type TreeDir } from "../tree.ts";
import type { Entry } from "../types.ts";
import { type UnionLayer, UnionTree } from "../union_tree.ts";
import { walkTree } from "../walk.ts";
import {
  CHUNK_BYTES,
  type FileDigest,
  type FileDone,
  type Frame,
  type FramePort,
  type ManifestGroup,
  type ManifestItem,
  type Need,
  type SessionTerms,
  type SideSummary,
  type SourceRoot,
} from "./frames.ts";
import type { TransferEvent } from "./planner.ts";
import type { DataConn, SendItem } from "../transport/data_plane.ts";
import type { Signature } from "../delta/signature.ts";
import { StrongHash } from "../delta/strong_hash.ts";
import { startRepeating } from "../timer.ts";
import type { LocalSource } from "./intake.ts";
import {
  type ChangeGate,
  CONSENT_KEEPALIVE_MS,
  DELTA_MIN_BYTES,
  sourceRemovalBlock,
} from "./plan.ts";
import { sideSummary } from "./summary.ts";
import {
  type ConsentAnswer,
  type ConsentAsker,
  PeerAbortError,
  type RoleOutcome,
  runRole,
} from "./role.ts";

/** Most bytes of block signatures the source holds for files it has not sent yet. */
export const PENDING_SIGNATURES_MAX = 64 * 1024 * 1024;

/** How the source's payload leaves it. */
export type SourcePayload =
  /** The destination copies from this tree itself (both in this process): needs are refused. */
  | { kind: "local" }
  /**
   * Over the network: `open` returns the data-plane connections to write to, or none to carry
   * payload in `chunk` frames; `send` writes one connection's share.
   */
  | {
    kind: "wire";
    open: () => Promise<DataConn[]>;
    send: (conn: DataConn, items: AsyncIterable<SendItem>) => Promise<unknown>;
  };

/** Options of {@linkcode SourceRole}. */
export interface SourceRoleOptions {
  /** What both sides agreed to do. */
  terms: SessionTerms;
  /** Which entries take part. */
  filter: EntryFilter;
  /** The tree in which the user named the source. */
  tree: Tree;
  /** The source's path in `tree` (`""`: the tree's root). */
  base: string;
  /** `SRC/`: the contents travel, not the directory itself. */
  contentsOnly: boolean;
  /** The name to announce when `base` is `""` (a module's name). */
  rootName: string;
  /** Never remove the root directory itself after a move (a module's root). */
  keepRoot: boolean;
  /**
   * Several sources in `tree`, merged into one root (`blit copy a b/ c DST/`): with two or more,
   * `base`, `contentsOnly` and `rootName` are not used. See {@linkcode UnionTree}.
   */
  merge?: readonly SourcePick[];
  /** The endpoints as typed, to word refusals. */
  texts: EndpointTexts;
  /** This side's counters. */
  stats: TransferStats;
  /** Hashes source files (checksum compare, move verification). */
  hasher: FileHasher;
  /** The one dry-run gate. */
  gate: ChangeGate;
  /** How payload leaves. */
  payload: SourcePayload;
  /** Asks the user about deletions, when this side holds the user (a push). */
  consent?: ConsentAsker;
  /**
   * How often to send a keepalive while the user decides.
   * @default {CONSENT_KEEPALIVE_MS}
   */
  keepaliveMs?: number;
  /**
   * Receives the actions the destination reports back (`terms.reportEvents`: a push asked for
   * them for `-v` or `-i`).
   */
  onEvent?: (event: TransferEvent) => void;
}

/** One of several sources merged into one root (see {@linkcode SourceRoleOptions.merge}). */
export interface SourcePick {
  /** Its path in the tree (`""`: the tree's root, whose contents then travel). */
  base: string;
  /** `SRC/`: its contents are laid at the root; otherwise itself, under its own name. */
  contentsOnly: boolean;
  /** As the user typed it, to word a refusal. */
  text: string;
}

/**
 * Local sources as picks of a merged source (see `SourceRoleOptions.merge`): absolute paths in
 * the tree rooted at `/`.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { sourcePicks } from "./source.ts";
 * deepStrictEqual(
 *   sourcePicks([{ kind: "local", path: "/srv/a", trailingSlash: true, text: "/srv/a/" }]),
 *   [{ base: "srv/a", contentsOnly: true, text: "/srv/a/" }],
 * );
 * ```
 *
 * @param sources The local sources.
 * @returns Their picks, in order.
 */
export function sourcePicks(sources: readonly LocalEndpoint[]): SourcePick[] {
  return sources.map((source) => ({
    base: absolutePath(source.path).slice(1),
    contentsOnly: source.trailingSlash,
    text: source.text,
  }));
}

/** Where the source root is and how to reach its entries. */
interface SourceView {
  /** The tree holding the root entry. */
  holder: Tree;
  /** The root entry's name in it (`""`: the holder's root is the source root). */
  rootName: string;
  /** The tree to walk (the root directory), for a directory root. */
  walk: Tree | null;
  /** The root entry. */
  root: SourceRoot;
}

/**
 * The SOURCE role. Create it, then `run()` it against the port; it resolves when both summaries
 * were exchanged.
 */
export class SourceRole {
  readonly #port: FramePort;
  readonly #o: SourceRoleOptions;
  readonly #entries = new Map<number, Entry>();
  readonly #retain: boolean;
  readonly #sendQueue = new AsyncQueue<SendItem>();
  readonly #walkedDirs: string[] = [];
  readonly #removals: Promise<void>[] = [];
  #view: SourceView | null = null;
  #nextId = 1;
  /** The delta code was asked to load (see `#prepareDelta`). */
  #deltaPrepared = false;
  #scanComplete = true;
  #walking: Promise<void> = Promise.resolve();
  #sending: Promise<void> | null = null;
  #dataFailures: { path: string; message: string }[] = [];
  #ahead: Promise<Frame | null> | null = null;
  #pendingSignatureBytes = 0;
  readonly #needed = new Set<number>();

  /**
   * Creates the role.
   * @param port The channel to the destination.
   * @param options Tree, root and rules.
   */
  constructor(port: FramePort, options: SourceRoleOptions) {
    this.#port = port;
    this.#o = options;
    const { operation, compare } = options.terms;
    this.#retain = options.payload.kind === "wire" || operation === "move" ||
      compare === "checksum";
  }

  /** The resolved source (after `run()` started), for a destination in the same process. */
  get view(): SourceView | null {
    return this.#view;
  }

  /**
   * Resolves the source root: its entry, and the trees that hold and (for a directory) contain
   * it. Refuses a missing source and `SRC/` naming something that is not a directory. A daemon
   * calls it before it accepts a session, so that such refusals come before anything else.
   * @throws {TransferRefusal} When the source cannot be used.
   */
  resolve(): void {
    this.#view ??= this.#resolve();
  }

  #resolve(): SourceView {
    const { tree, base, contentsOnly, texts, merge } = this.#o;
    if (merge !== undefined && merge.length > 1) return resolveMerged(tree, merge, texts);
    return resolveSource(tree, { base, contentsOnly, rootName: this.#o.rootName }, texts);
  }

  /**
   * Runs the role until both summaries were exchanged. On any failure it tells the peer why
   * (an `abort` frame) before it throws.
   * @returns This side's and the peer's summaries.
   */
  run(): Promise<RoleOutcome> {
    return runRole(this.#port, () => this.#run(), () => this.#sendQueue.close());
  }

  async #run(): Promise<RoleOutcome> {
    this.resolve();
    const view = this.#view as SourceView;
    const { stats } = this.#o;
    if (!this.#o.terms.keepOwner) view.root.entry.uid = view.root.entry.gid = undefined;
    this.#entries.set(0, view.root.entry);
    if (view.root.entry.kind !== "dir") stats.examined++;
    await this.#port.send({ type: "root", root: view.root });
    this.#walking = this.#walk(view);
    this.#walking.catch(() => {});
    let peer: SideSummary | null = null;
    while (peer === null) {
      const frame = await this.#next();
      if (frame === null) {
        throw new ProtocolError("Cannot finish the session: the peer closed the stream");
      }
      switch (frame.type) {
        case "needs":
          this.#onNeeds(frame.needs);
          break;
        case "checksumRequest":
          await this.#onChecksumRequest(frame.ids);
          break;
        case "needEnd":
          await this.#onNeedEnd();
          break;
        case "filesDone":
          this.#onFilesDone(frame.files);
          break;
        case "events":
          if (!this.#o.terms.reportEvents) {
            throw new ProtocolError("Cannot accept reported actions: none were asked for");
          }
          for (const event of frame.events) this.#o.onEvent?.(event);
          break;
        case "consentRequest":
          await this.#onConsentRequest(frame.paths, frame.total);
          break;
        case "keepalive":
          break;
        case "summary":
          peer = frame.summary;
          break;
        case "abort":
          throw new PeerAbortError(frame.abort);
        default:
          throw new ProtocolError(`Cannot handle a "${frame.type}" frame in the source role`);
      }
    }
    await this.#walking;
    await Promise.all(this.#removals);
    this.#removeEmptiedDirectories();
    const own = sideSummary(stats, null);
    await this.#port.send({ type: "summary", summary: own });
    return { own, peer };
  }

  /**
   * Loads the delta code while the destination signs, once a file that may travel as a delta
   * ({@linkcode DELTA_MIN_BYTES} or more, over the wire, not `--whole-file`) is announced.
   */
  #prepareDelta(entry: Entry): void {
    if (this.#deltaPrepared || entry.kind !== "file" || entry.size < DELTA_MIN_BYTES) return;
    if (this.#o.payload.kind !== "wire" || this.#o.terms.wholeFile) return;
    this.#deltaPrepared = true;
    void StrongHash.preload();
  }

  /** Walks a directory root and sends the manifest, batched as the port prefers. */
  async #walk(view: SourceView): Promise<void> {
    const { stats, filter, terms } = this.#o;
    let bytes = view.root.entry.kind === "file" ? view.root.entry.size : 0;
    this.#prepareDelta(view.root.entry);
    if (view.walk) {
      let batch: ManifestGroup[] = [];
      let batchEntries = 0;
      let first = true;
      // `-x`: a mount point is announced in its parent's group but never entered, so no group
      // of its own follows and the destination keeps what it holds under it.
      const walker = walkTree(view.walk, {
        filter,
        oneFileSystem: terms.oneFileSystem,
        keepOwner: terms.keepOwner,
        hardLinks: terms.hardLinks,
        onError: (path, message) => {
          this.#scanComplete = false;
          stats.fail(path, message);
        },
      });
      for await (const group of walker) {
        if (!group.complete) this.#scanComplete = false;
        if (terms.operation === "move") this.#walkedDirs.push(group.dir);
        const items: ManifestItem[] = [];
        for (const entry of group.entries) {
          const item = entry as ManifestItem;
          item.id = this.#nextId++;
          if (this.#retain && entry.kind !== "dir") this.#entries.set(item.id, entry);
          items.push(item);
          stats.examined++;
          if (entry.kind === "file" && entry.hardLink === undefined) bytes += entry.size;
          this.#prepareDelta(entry);
        }
        batch.push({ dir: group.dir, entries: items, complete: group.complete });
        batchEntries += items.length;
        // The first group goes at once, so the first file lands without waiting for a batch.
        if (first || batchEntries >= this.#port.batchEntries) {
          first = false;
          const groups = batch;
          batch = [];
          batchEntries = 0;
          await this.#port.send({ type: "manifest", groups });
        }
      }
      if (batch.length > 0) await this.#port.send({ type: "manifest", groups: batch });
    }
    stats.walkDone = true;
    await this.#port.send({
      type: "manifestEnd",
      scanComplete: this.#scanComplete,
      entries: this.#nextId,
      bytes,
    });
  }

  /** The directory handle and name of a manifest entry. */
  #holder(entry: Entry): { dir: TreeDir; name: string } {
    return this.#holderOf(entry.path);
  }

  #holderOf(rel: string): { dir: TreeDir; name: string } {
    const view = this.#view;
    if (view === null) throw new Error("Cannot read the source before it is resolved");
    if (rel === "") return { dir: view.holder.dir(""), name: view.rootName };
    const [parent, name] = splitPath(rel);
    return { dir: (view.walk as Tree).dir(parent), name };
  }

  /**
   * The source as a destination in the same process reads it (the copy workers open its files
   * by their local paths).
   * @returns The local source.
   */
  localSource(): LocalSource {
    return {
      localPath: (rel) => {
        const view = this.#view;
        if (view === null) return null;
        if (rel === "") return view.holder.localPath(view.rootName);
        return view.walk?.localPath(rel) ?? null;
      },
      open: (rel) => {
        const { dir, name } = this.#holderOf(rel);
        return dir.openRead(name);
      },
    };
  }

  #fileOf(id: number, path: string | null): Entry {
    const entry = this.#entries.get(id);
    if (!entry || entry.kind !== "file" || (path !== null && entry.path !== path)) {
      throw new ProtocolError(`Cannot use id ${id}: it is not a file of this manifest`);
    }
    return entry;
  }

  #onNeeds(needs: readonly Need[]): void {
    const payload = this.#o.payload;
    if (payload.kind === "local") {
      throw new ProtocolError("Cannot send payload: the destination copies locally");
    }
    for (const need of needs) {
      const entry = this.#fileOf(need.id, need.path);
      if (this.#needed.has(need.id)) {
        throw new ProtocolError(`Cannot send id ${need.id} twice: it was asked for already`);
      }
      this.#needed.add(need.id);
      // What the destination asked for is this side's plan (for the progress line).
      this.#o.stats.planned++;
      this.#o.stats.plannedBytes += entry.size;
      const held = need.basis ? this.#holdSignature(need.basis) : 0;
      this.#sendQueue.push({
        id: need.id,
        path: entry.path,
        size: entry.size,
        open: () => {
          this.#pendingSignatureBytes -= held;
          const { dir, name } = this.#holder(entry);
          return dir.openRead(name);
        },
        ...(need.basis ? { basis: need.basis, resume: need.resume === true } : {}),
      });
    }
    if (!this.#o.gate.dryRun) this.#startSending(payload);
  }

  /**
   * Counts a block signature the source holds until its file is sent; refuses one that would
   * make them more than {@linkcode PENDING_SIGNATURES_MAX} (an honest destination signs a few
   * files ahead, see `WireIntake`).
   * @returns The bytes held.
   */
  #holdSignature(basis: Signature): number {
    const bytes = basis.weak.byteLength + basis.strong.byteLength;
    if (this.#pendingSignatureBytes + bytes > PENDING_SIGNATURES_MAX) {
      throw new ProtocolError(
        `Cannot accept more block signatures: ${this.#pendingSignatureBytes} bytes of them wait ` +
          `for their files already (the limit is ${PENDING_SIGNATURES_MAX >> 20} MiB)`,
      );
    }
    this.#pendingSignatureBytes += bytes;
    return bytes;
  }

  #startSending(payload: Extract<SourcePayload, { kind: "wire" }>): Promise<void> {
    if (this.#sending) return this.#sending;
    this.#sending = (async () => {
      this.#port.busy++;
      try {
        const conns = await payload.open();
        if (conns.length > 0) {
          // Every per-file problem travels as a record the destination counts: nothing to add.
          await Promise.all(conns.map((conn) => payload.send(conn, this.#sendQueue)));
        } else {
          for await (const item of this.#sendQueue) await this.#sendChunks(item);
        }
      } finally {
        this.#port.busy--;
      }
    })();
    this.#sending.catch(() => {});
    return this.#sending;
  }

  async #onChecksumRequest(ids: readonly number[]): Promise<void> {
    const digests: FileDigest[] = await Promise.all(ids.map(async (id) => {
      const entry = this.#fileOf(id, null);
      try {
        return { id, digest: await this.#digest(entry), error: "" };
      } catch (error) {
        return { id, digest: "", error: describeError(error) };
      }
    }));
    await this.#port.send({ type: "checksums", digests });
  }

  async #digest(entry: Entry): Promise<string> {
    const { dir, name } = this.#holder(entry);
    using file = dir.openRead(name);
    return await this.#o.hasher(file);
  }

  async #onNeedEnd(): Promise<void> {
    await this.#walking;
    this.#sendQueue.close();
    if (this.#sending) await this.#sending;
    await this.#port.send({ type: "dataEnd", failures: this.#dataFailures });
  }

  #onFilesDone(files: readonly FileDone[]): void {
    if (this.#o.terms.operation !== "move") {
      throw new ProtocolError("Cannot accept file reports: this session is not a move");
    }
    for (const done of files) {
      const entry = this.#entries.get(done.id);
      if (!entry) throw new ProtocolError(`Cannot remove unknown id ${done.id}`);
      this.#removals.push(this.#removeMoved(entry, done));
    }
  }

  /** Removes one moved source, if the move rule allows it. */
  async #removeMoved(entry: Entry, done: FileDone): Promise<void> {
    const { stats, gate, terms } = this.#o;
    if (!done.ok) return;
    try {
      const { dir, name } = this.#holder(entry);
      const now = dir.stat(name);
      const digest = terms.compare === "checksum" && entry.kind === "file" && now !== null
        ? await this.#digest(entry)
        : null;
      const block = sourceRemovalBlock(entry, now, done, terms.compare, digest);
      if (block !== null) {
        stats.fail(entry.path || ".", block);
        return;
      }
      gate.apply(() => dir.remove(name));
      stats.sourcesRemoved++;
    } catch (error) {
      stats.fail(entry.path || ".", `Cannot remove source: ${describeError(error)}`);
    }
  }

  /** After a move: removes the directories the walk saw, deepest first, when they are empty. */
  #removeEmptiedDirectories(): void {
    const view = this.#view;
    if (this.#o.terms.operation !== "move" || !view?.walk || this.#o.gate.dryRun) return;
    const keepRoot = view.root.contentsOnly || this.#o.keepRoot;
    const ordered = this.#walkedDirs.filter((d) => d !== "").sort((a, b) => b.length - a.length);
    for (const path of ordered) {
      try {
        const [parent, name] = splitPath(path);
        view.walk.dir(parent).remove(name);
      } catch { /* not empty (a failed or excluded file stayed): keep it */ }
    }
    if (!keepRoot && view.rootName !== "") {
      try {
        view.holder.dir("").remove(view.rootName);
      } catch { /* not empty: keep it */ }
    }
  }

  /** The next frame: one read ahead while a person was asked, else from the port. */
  #next(): Promise<Frame | null> {
    const ahead = this.#ahead;
    this.#ahead = null;
    return ahead ?? this.#port.next();
  }

  /**
   * Asks the user, sending keepalives meanwhile. The destination may stop waiting (its consent
   * deadline): when a frame arrives before the answer, the question is withdrawn and the frame
   * handled as usual.
   */
  async #onConsentRequest(paths: readonly string[], total: number): Promise<void> {
    if (this.#o.terms.operation !== "mirror") {
      throw new ProtocolError("Cannot accept a consent request: this session is not a mirror");
    }
    const consent = this.#o.consent;
    let answer: ConsentAnswer = { granted: false, refusal: "not-given" };
    if (consent) {
      const withdrawn = new AbortController();
      const keepalive = startRepeating(this.#o.keepaliveMs ?? CONSENT_KEEPALIVE_MS, () => {
        this.#port.send({ type: "keepalive" }).catch(() => {});
      });
      const ahead = this.#next();
      this.#ahead = ahead;
      try {
        const first = await Promise.race([
          consent(paths, total, withdrawn.signal).then((a) => ({ answer: a })),
          ahead.then(() => null),
        ]);
        if (first === null) {
          withdrawn.abort();
          return;
        }
        answer = first.answer;
      } finally {
        keepalive.cancel();
      }
    }
    await this.#port.send({
      type: "consentReply",
      granted: answer.granted,
      refusal: answer.granted ? null : answer.refusal,
    });
  }

  /** Sends one file in `chunk` frames: exactly the announced size, or an early last chunk. */
  async #sendChunks(item: SendItem): Promise<void> {
    let file: Deno.FsFile;
    try {
      file = item.open();
    } catch (error) {
      this.#dataFailures.push({ path: item.path, message: `Cannot read: ${describeError(error)}` });
      return;
    }
    try {
      let offset = 0;
      const buffer = new Uint8Array(Math.min(CHUNK_BYTES, Math.max(1, item.size)));
      while (true) {
        const want = Math.min(CHUNK_BYTES, item.size - offset);
        let got = 0;
        while (got < want) {
          const n = await file.read(buffer.subarray(got, want));
          if (n === null) break;
          got += n;
        }
        // A file that shrank ends early: the destination sees the short size and discards it.
        const last = got < want || offset + got >= item.size;
        await this.#port.send({
          type: "chunk",
          id: item.id,
          offset,
          data: buffer.slice(0, got),
          last,
        });
        offset += got;
        if (last) return;
      }
    } finally {
      file.close();
    }
  }
}

/**
 * Resolves one source: its root entry, the tree that holds it and (for a directory) the tree to
 * walk. Refuses a missing source and `SRC/` naming something that is not a directory.
 */
function resolveSource(
  tree: Tree,
  pick: { base: string; contentsOnly: boolean; rootName: string },
  texts: EndpointTexts,
): SourceView {
  const { base, contentsOnly } = pick;
  try {
    if (contentsOnly || base === "") {
      const holder = base === "" ? tree : tree.sub(base);
      const info = holder.dir("").stat("");
      if (!info) throw new TransferRefusal("source-missing", texts);
      if (info.kind !== "dir") throw new TransferRefusal("source-not-directory", texts);
      const entry: Entry = { ...info, kind: "dir", path: "" };
      return {
        holder,
        rootName: "",
        walk: holder,
        root: { entry, name: pick.rootName, contentsOnly: true },
      };
    }
    const [parent, name] = splitPath(base);
    const holder = tree.sub(parent);
    const info = holder.dir("").stat(name);
    if (info === null) throw new TransferRefusal("source-missing", texts);
    if (info.kind === "other") {
      throw new TransferRefusal("source-unreadable", texts, "it is a special file");
    }
    const entry: Entry = { ...info, kind: info.kind, path: "" };
    return {
      holder,
      rootName: name,
      walk: info.kind === "dir" ? holder.sub(name) : null,
      root: { entry, name, contentsOnly: false },
    };
  } catch (error) {
    if (error instanceof TransferRefusal) throw error;
    // A path that leaves a contained tree is refused as such, not as an unreadable source.
    if (error instanceof PathEscapeError || error instanceof PathInvalidError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new TransferRefusal("source-missing", texts);
    }
    if (error instanceof Deno.errors.NotADirectory && contentsOnly) {
      throw new TransferRefusal("source-not-directory", texts);
    }
    throw new TransferRefusal("source-unreadable", texts, describeError(error));
  }
}

/**
 * Resolves several sources into one merged root: each is resolved as a single source would be
 * (and refused in its own words), then laid over the others in a {@linkcode UnionTree}, the
 * first on top. The root stands for no directory of the source (`merged`).
 */
function resolveMerged(
  tree: Tree,
  picks: readonly SourcePick[],
  texts: EndpointTexts,
): SourceView {
  const layers: UnionLayer[] = picks.map((pick) => {
    const view = resolveSource(tree, { ...pick, rootName: "" }, { ...texts, source: pick.text });
    return { tree: view.holder, only: view.rootName === "" ? null : view.rootName };
  });
  const union = new UnionTree(layers);
  const entry: Entry = { path: "", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 };
  return {
    holder: union,
    rootName: "",
    walk: union,
    root: { entry, name: "", contentsOnly: true, merged: true },
  };
}
