/**
 * The DESTINATION role of a session, the same on every route: it places the source root by the
 * one destination rule, plans every manifest group with a {@linkcode DestinationPlanner}, gets
 * the files it needs through a {@linkcode PayloadIntake}, reports verified files when the source
 * moves, decides mirror deletions (gate, then consent, after planning), restores directory
 * attributes and exchanges summaries.
 *
 * @module
 */

import type { SharedPace } from "../shared_pace.ts";
import { type EndpointTexts, placeSource, TransferRefusal } from "../endpoint.ts";
import { describeError, ProtocolError } from "../errors.ts";
import type { EntryFilter } from "../filter.ts";
import type { FileHasher } from "../hash.ts";
import type { TransferStats } from "../stats.ts";
import { ABSENT_TREE, joinPath, splitPath, type Tree } from "../tree.ts";
import type { Entry } from "../types.ts";
import type {
  FileDigest,
  FileDone,
  Frame,
  FramePort,
  ManifestGroup,
  SessionTerms,
  SideSummary,
  SourceRoot,
} from "./frames.ts";
import {
  type DataPlaneAccess,
  type FileBasis,
  LocalCopyIntake,
  type LocalSource,
  type PayloadIntake,
  WireIntake,
  type WriterQueueFactory,
} from "./intake.ts";
import type { ListingLookahead } from "./lookahead.ts";
import { TimeoutError } from "../transport/deadline.ts";
import {
  type ChangeGate,
  CONSENT_PATHS_MAX,
  CONSENT_TIMEOUT_MS,
  consentSkipReason,
  deletionBlock,
} from "./plan.ts";
import { DestinationPlanner, type FilePlan, type TransferEvent } from "./planner.ts";
import { EventRelay } from "./event_relay.ts";
import { contentsDiffer } from "./itemize.ts";
import { type ConsentAsker, PeerAbortError, type RoleOutcome, runRole } from "./role.ts";
import { sideSummary } from "./summary.ts";

/** How the destination gets payload. */
export type DestinationPayload =
  /** From a source tree in this process (copy workers). */
  | { kind: "local"; source: () => LocalSource; copyWorkers: number; pace?: SharedPace }
  /**
   * From a remote source: the data plane, or `null` for `chunk` frames only; `writers` gives the
   * writer threads for received small files (a share of the daemon's pool), else the session
   * starts its own.
   */
  | { kind: "wire"; data: DataPlaneAccess | null; writers?: WriterQueueFactory };

/** Options of {@linkcode DestinationRole}. */
export interface DestinationRoleOptions {
  /** What both sides agreed to do. */
  terms: SessionTerms;
  /** The filter the source walks with (excluded entries are never deleted). */
  filter: EntryFilter;
  /** The tree in which the user named the destination. */
  tree: Tree;
  /** The destination's path in `tree` (`""`: the tree's root). */
  base: string;
  /** The destination was written with a trailing `/`. */
  trailingSlash: boolean;
  /** The endpoints as typed, to word refusals. */
  texts: EndpointTexts;
  /** This side's counters. */
  stats: TransferStats;
  /** Hashes destination files. */
  hasher: FileHasher;
  /** The one dry-run gate. */
  gate: ChangeGate;
  /** Asks for consent to deletions, after planning. */
  consent: ConsentAsker;
  /** How payload arrives. */
  payload: DestinationPayload;
  /**
   * Keep setuid, setgid and sticky bits of what is written (the mode rule, `receivedMode` in
   * `plan.ts`). A local run keeps them; a daemon's module only with `keep_special_bits`.
   * @default {false}
   */
  keepSpecialBits?: boolean;
  /** Lists local destination directories ahead on a worker (local trees only). */
  lookahead?: (root: string) => ListingLookahead;
  /** Receives each action (for `--verbose`). */
  onEvent?: (event: TransferEvent) => void;
  /** Told where the source root lands (its path in `tree`), once placed. */
  onPlaced?: (target: string) => void;
}

/** Most file reports gathered before they are sent. */
const FILES_DONE_BATCH = 256;

/**
 * The DESTINATION role. Create it, then `run()` it against the port; it resolves when both
 * summaries were exchanged.
 */
export class DestinationRole {
  readonly #port: FramePort;
  readonly #o: DestinationRoleOptions;
  #planner: DestinationPlanner | null = null;
  #intake: PayloadIntake | null = null;
  #lookahead: ListingLookahead | null = null;
  readonly #hashing = new Map<number, FilePlan>();
  readonly #verifying = new Set<Promise<void>>();
  #done: FileDone[] = [];
  /** Sends the actions back when the source asked for them and this side shows none itself. */
  readonly #relay: EventRelay | null;
  /** Where actions go: the caller's `onEvent`, the relay, or nowhere. */
  readonly #onEvent: ((event: TransferEvent) => void) | undefined;
  /** Itemize strings of the files in flight, while actions are reported. */
  readonly #itemized = new Map<number, string>();
  #manifestEnded = false;
  #needEndSent = false;
  #scanComplete = false;

  /**
   * Creates the role.
   * @param port The channel to the source.
   * @param options Tree, rules and how payload arrives.
   */
  constructor(port: FramePort, options: DestinationRoleOptions) {
    this.#port = port;
    this.#o = options;
    this.#relay = !options.onEvent && options.terms.reportEvents ? new EventRelay(port) : null;
    this.#onEvent = options.onEvent ?? this.#relay?.push;
  }

  /**
   * Runs the role until both summaries were exchanged. On any failure it tells the peer why
   * before it throws.
   * @returns This side's and the peer's summaries.
   */
  run(): Promise<RoleOutcome> {
    return runRole(this.#port, () => this.#run(), () => {
      this.#lookahead?.close();
      // A failed session stops the files still arriving: their temporaries are removed.
      this.#intake?.abort?.();
    });
  }

  async #next(): Promise<Frame> {
    const stalled = this.#intake?.stalled;
    const frame = stalled === undefined
      ? await this.#port.next()
      : await Promise.race([this.#port.next(), stalled]);
    if (frame === null) {
      throw new ProtocolError("Cannot finish the session: the peer closed the stream");
    }
    if (frame.type === "abort") throw new PeerAbortError(frame.abort);
    return frame;
  }

  async #run(): Promise<RoleOutcome> {
    const first = await this.#next();
    if (first.type !== "root") throw new ProtocolError("Cannot start: the root must come first");
    await this.#onRoot(first.root);
    let own: SideSummary | null = null;
    while (true) {
      const frame = await this.#next();
      switch (frame.type) {
        case "manifest":
          if (this.#manifestEnded) {
            throw new ProtocolError("Cannot accept a manifest after its end");
          }
          for (const group of frame.groups) await this.#onGroup(group);
          break;
        case "manifestEnd":
          this.#manifestEnded = true;
          this.#scanComplete = frame.scanComplete;
          this.#o.stats.walkDone = true;
          await this.#maybeNeedEnd();
          break;
        case "checksums":
          await this.#onChecksums(frame.digests);
          await this.#maybeNeedEnd();
          break;
        case "chunk":
          // Waits while too much payload is queued for the disk (back-pressure on the stream).
          await this.#intake?.onChunk(frame.id, frame.offset, frame.data, frame.last);
          break;
        case "dataEnd":
          if (!this.#needEndSent || own !== null) {
            throw new ProtocolError("Cannot accept the end of data before the end of needs");
          }
          for (const f of frame.failures) this.#o.stats.fail(f.path, f.message);
          own = await this.#finish(new Set(frame.failures.map((f) => f.path)));
          break;
        case "keepalive":
          break;
        case "summary":
          if (own === null) throw new ProtocolError("Cannot accept the source summary yet");
          return { own, peer: frame.summary };
        default:
          throw new ProtocolError(`Cannot handle a "${frame.type}" frame in the destination role`);
      }
      await this.#flushDone(false);
      await this.#relay?.flush(false);
    }
  }

  /** Places the root by the destination rule and plans it. */
  async #onRoot(root: SourceRoot): Promise<void> {
    const { tree, base, trailingSlash, texts, gate } = this.#o;
    const facts = tree.probe(base);
    const placement = placeSource(
      { kind: root.entry.kind, contentsOnly: root.contentsOnly },
      { ...facts, trailingSlash },
      texts,
    );
    if (placement === "into" && root.name === "") {
      throw new ProtocolError("Cannot place the source: it has no name");
    }
    const target = placement === "into" ? joinPath(base, root.name) : base;
    // A directory lands in an existing directory (a link to one is followed, as rsync does);
    // anything else is created or replaced in the directory that holds the target.
    const intoExisting = root.entry.kind === "dir" &&
      (target === "" || (placement === "onto" && facts.isDirectory));
    const [parent, rootName] = intoExisting ? [target, ""] : splitPath(target);
    let holder: Tree;
    try {
      if (!gate.dryRun) tree.mkdirAll(parent);
      holder = tree.sub(parent);
    } catch (error) {
      if (!(gate.dryRun && error instanceof Deno.errors.NotFound)) {
        throw new TransferRefusal("destination-unwritable", texts, describeError(error));
      }
      holder = ABSENT_TREE; // a dry run into directories that do not exist yet
    }
    this.#o.onPlaced?.(target);
    const planner = new DestinationPlanner({
      tree: holder,
      rootName,
      compare: this.#o.terms.compare,
      ignoreExisting: this.#o.terms.ignoreExisting,
      update: this.#o.terms.update,
      sizeRange: { min: this.#o.terms.minSize, max: this.#o.terms.maxSize },
      mirror: this.#o.terms.operation === "mirror",
      deleteExcluded: this.#o.terms.deleteExcluded,
      keepOwner: this.#o.terms.keepOwner,
      hardLinks: this.#o.terms.hardLinks,
      reportSettled: this.#o.terms.operation === "move",
      gate,
      filter: this.#o.filter,
      stats: this.#o.stats,
      hasher: this.#o.hasher,
      keepSpecialBits: this.#o.keepSpecialBits ?? false,
      resume: this.#o.terms.resume,
      backup: this.#o.terms.backup,
      ...(this.#onEvent ? { onEvent: this.#onEvent } : {}),
    });
    this.#planner = planner;
    this.#intake = this.#makeIntake(planner);
    const local = root.entry.kind === "dir" ? holder.localPath(rootName) : null;
    if (local !== null && this.#o.lookahead) this.#lookahead = this.#o.lookahead(local);
    let plan: FilePlan | null;
    try {
      plan = planner.planRoot(root.entry, root.merged ?? false);
    } catch (error) {
      if (root.entry.kind === "dir") {
        throw new TransferRefusal("destination-unwritable", texts, describeError(error));
      }
      this.#o.stats.fail(".", describeError(error));
      plan = null;
    }
    if (plan) await this.#dispatch([plan]);
  }

  #makeIntake(planner: DestinationPlanner): PayloadIntake {
    const landed = (id: number, entry: Entry, ok: boolean): void => {
      if (this.#onEvent) {
        const itemize = this.#itemized.get(id);
        this.#itemized.delete(id);
        if (ok) planner.reportWritten(entry, itemize);
      }
      this.#landed(id, entry, ok);
    };
    const { payload, stats } = this.#o;
    if (payload.kind === "local") {
      return new LocalCopyIntake(planner, payload.source(), {
        stats,
        landed,
        copyWorkers: payload.copyWorkers,
        ...(payload.pace ? { pace: payload.pace } : {}),
      });
    }
    return new WireIntake(this.#port, planner, {
      stats,
      landed,
      data: payload.data,
      wholeFile: this.#o.terms.wholeFile,
      ...(payload.writers ? { writers: payload.writers } : {}),
    });
  }

  async #onGroup(group: ManifestGroup): Promise<void> {
    const planner = this.#planner as DestinationPlanner;
    const listing = this.#lookahead ? await this.#lookahead.take(group.dir) : null;
    const plans = planner.planGroup(group, listing);
    if (this.#lookahead) {
      const dirs: string[] = [];
      for (const e of group.entries) {
        if (e.kind === "dir" && !planner.isFresh(e.path)) dirs.push(e.path);
      }
      this.#lookahead.discovered(dirs, group.entries.length);
    }
    await this.#dispatch(plans);
  }

  /** Acts on the plans of one group: payload, digests, or (move) a report. */
  async #dispatch(plans: FilePlan[]): Promise<void> {
    const intake = this.#intake as PayloadIntake;
    const checks: number[] = [];
    for (const plan of plans) {
      const id = plan.id;
      switch (plan.decision) {
        case "send":
          await this.#need(id, plan.entry, basisOf(plan), plan.itemize);
          break;
        case "hash":
          this.#hashing.set(id, plan);
          checks.push(id);
          break;
        case "settled":
          this.#landed(id, plan.entry, true);
          break;
        case "kept":
          if (this.#o.terms.operation === "move" && plan.keptBecause !== "size") {
            this.#o.stats.fail(
              plan.entry.path || ".",
              plan.keptBecause === "newer"
                ? "Cannot move: the destination is newer (--update); source kept"
                : "Cannot move: the destination exists (--ignore-existing); source kept",
            );
          }
          break;
      }
    }
    await intake.endBatch();
    if (checks.length > 0) await this.#port.send({ type: "checksumRequest", ids: checks });
  }

  /** Asks for one file (or, in a dry run, counts it as sent). */
  async #need(id: number, entry: Entry, basis?: FileBasis, itemize?: string): Promise<void> {
    const planner = this.#planner as DestinationPlanner;
    planner.announceSend(entry, itemize);
    if (this.#onEvent && itemize !== undefined && !this.#o.gate.dryRun) {
      this.#itemized.set(id, itemize);
    }
    if (this.#o.gate.dryRun) {
      planner.countWritten(entry);
      this.#landed(id, entry, true);
      return;
    }
    await (this.#intake as PayloadIntake).request(id, entry, basis);
  }

  /** A file is in place (or failed): for move, verify it and report it. */
  #landed(id: number, entry: Entry, ok: boolean): void {
    if (this.#o.terms.operation !== "move") return;
    if (!ok) {
      this.#queueDone({ id, ok, size: 0, mtimeMs: 0, digest: "", message: "not written" });
      return;
    }
    const verifying = (this.#planner as DestinationPlanner).verify(entry, id).then((done) => {
      if (!done.ok) this.#o.stats.fail(entry.path || ".", done.message);
      this.#queueDone(done);
    });
    this.#verifying.add(verifying);
    verifying.finally(() => this.#verifying.delete(verifying));
  }

  #queueDone(done: FileDone): void {
    this.#done.push(done);
    if (this.#done.length >= FILES_DONE_BATCH) void this.#flushDone(false).catch(() => {});
  }

  async #flushDone(all: boolean): Promise<void> {
    if (all) { while (this.#verifying.size > 0) await Promise.all(this.#verifying); }
    if (this.#done.length === 0) return;
    const files = this.#done;
    this.#done = [];
    await this.#port.send({ type: "filesDone", files });
  }

  async #onChecksums(digests: readonly FileDigest[]): Promise<void> {
    const planner = this.#planner as DestinationPlanner;
    for (const { id, digest, error } of digests) {
      const plan = this.#hashing.get(id);
      if (!plan) throw new ProtocolError(`Cannot use the digest of id ${id}: it was not asked for`);
      this.#hashing.delete(id);
      let equal = false;
      if (error === "") {
        try {
          equal = digest === await planner.hashLocal(plan.entry);
        } catch (failure) {
          this.#o.stats.fail(plan.entry.path, describeError(failure));
          continue;
        }
      }
      if (equal) this.#landed(id, plan.entry, true);
      else await this.#need(id, plan.entry, basisOf(plan), contentsDiffer(plan.itemize));
    }
    await (this.#intake as PayloadIntake).endBatch();
  }

  async #maybeNeedEnd(): Promise<void> {
    if (!this.#manifestEnded || this.#needEndSent || this.#hashing.size > 0) return;
    this.#needEndSent = true;
    // The last needs, with the signatures still being computed, go before their end.
    await (this.#intake as PayloadIntake).endBatch(true);
    const stats = this.#o.stats;
    await this.#port.send({ type: "needEnd", needs: stats.planned, bytes: stats.plannedBytes });
  }

  /**
   * Every file settled: report, delete (gate, then consent), finish directories, summarise.
   * `reported` are the paths the source said it could not send.
   */
  async #finish(reported: ReadonlySet<string>): Promise<SideSummary> {
    const planner = this.#planner as DestinationPlanner;
    await (this.#intake as PayloadIntake).finish(reported);
    for (const link of planner.linkHardLinks()) this.#landed(link.id, link.entry, link.ok);
    await this.#flushDone(true);
    let skipped: string | null = null;
    if (this.#o.terms.operation === "mirror") skipped = await this.#delete(planner);
    await planner.settleReleases();
    planner.finishDirectories();
    await this.#relay?.flush(true);
    const own = sideSummary(this.#o.stats, skipped);
    await this.#port.send({ type: "summary", summary: own });
    return own;
  }

  /** Applies mirror deletions when the gate and consent allow; returns why not, if not. */
  async #delete(planner: DestinationPlanner): Promise<string | null> {
    const pending = planner.deletions;
    const block = deletionBlock({
      scanComplete: this.#scanComplete,
      filesFailed: this.#o.stats.failed,
      pending: pending.length,
      maxDelete: this.#o.terms.maxDelete,
    });
    if (block !== null) return block;
    if (pending.length === 0) return null;
    if (!this.#o.gate.dryRun) {
      const paths = pending.slice(0, CONSENT_PATHS_MAX).map((d) => d.path);
      const answer = await this.#o.consent(paths, pending.length);
      if (!answer.granted) return consentSkipReason(answer.refusal, pending.length);
    }
    planner.applyDeletions();
    return null;
  }
}

/**
 * What the destination holds of a file it asks for: a partial file of this source version to
 * resume, else its old copy (a delta's basis), else nothing.
 */
function basisOf(plan: FilePlan): FileBasis | undefined {
  if (plan.resumeFrom) return { partial: plan.resumeFrom.name, size: plan.resumeFrom.size };
  return plan.basisSize === undefined ? undefined : { size: plan.basisSize };
}

/** Longest quiet time while waiting for consent (the asking side sends keepalives). */
const CONSENT_QUIET_MS = 60_000;

/** Deadlines of {@linkcode askPeerConsent}. */
export interface PeerConsentOptions {
  /**
   * How long a person may take to answer.
   * @default {CONSENT_TIMEOUT_MS}
   */
  timeoutMs?: number;
  /**
   * Longest silence from the peer meanwhile (it sends keepalives while a person decides).
   * @default {60000}
   */
  quietMs?: number;
}

/**
 * Asks the peer for consent to deletions: the side that holds the user (the client of a push)
 * answers, sending keepalives while a person decides. Gives up with `timeout` after the consent
 * deadline; a peer that goes quiet for `quietMs` ends the session.
 *
 * @param port The channel to the source.
 * @param options The deadlines.
 * @returns The asker.
 */
export function askPeerConsent(port: FramePort, options: PeerConsentOptions = {}): ConsentAsker {
  const { timeoutMs = CONSENT_TIMEOUT_MS, quietMs = CONSENT_QUIET_MS } = options;
  return async (paths, total) => {
    await port.send({ type: "consentRequest", paths: [...paths], total });
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const left = deadline - performance.now();
      if (left <= 0) return { granted: false, refusal: "timeout" };
      let frame: Frame | null;
      try {
        frame = await port.next(Math.min(left, quietMs));
      } catch (error) {
        if (error instanceof TimeoutError && deadline - performance.now() <= 0) {
          return { granted: false, refusal: "timeout" };
        }
        throw error;
      }
      if (frame === null) throw new ProtocolError("Cannot ask for consent: the peer left");
      if (frame.type === "abort") throw new PeerAbortError(frame.abort);
      if (frame.type === "keepalive") continue;
      if (frame.type !== "consentReply") {
        throw new ProtocolError(`Cannot accept a "${frame.type}" frame while asking for consent`);
      }
      return frame.granted
        ? { granted: true }
        : { granted: false, refusal: frame.refusal ?? "declined" };
    }
  };
}
