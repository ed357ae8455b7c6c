/**
 * The DESTINATION role of a session over a {@linkcode FramePort}: plans each manifest group with
 * a {@linkcode LocalDestination}, asks for what it needs, writes payload from the data plane or
 * control-stream chunks through temporary siblings, reports each file (FileDone), and decides
 * mirror deletions once the source scan is known to be complete.
 *
 * @module
 */

import type { Summary } from "../../proto/gen/blit_pb.ts";
import { describeError } from "../errors.ts";
import { AsyncQueue } from "../queue.ts";
import type { TransferStats } from "../stats.ts";
import { type PayloadSink, receivePayloads } from "../transport/data_plane.ts";
import { ProtocolError } from "../transport/records.ts";
import type { Entry, TransferOperation } from "../types.ts";
import type { FilePlan, LocalDestination } from "./destination.ts";
import { type FramePort, groupFromWire, summaryToWire } from "./wire.ts";

/** Options of {@linkcode runDestinationRole}. */
export interface DestinationRoleOptions {
  /** The verb. */
  operation: TransferOperation;
  /** The local destination that plans and writes. */
  dest: LocalDestination;
  /** Counters. */
  stats: TransferStats;
  /** Plan only. */
  dryRun: boolean;
  /** Whether mirror may delete (the user confirmed, or passed `--yes`). */
  confirmDeletions: (paths: readonly string[]) => Promise<boolean>;
  /**
   * The data-plane connections this side reads from, or `null` for payload in the control
   * stream. Called once, when the first need is sent.
   */
  openData: (() => Promise<Deno.Conn[]>) | null;
  /** Called when payload arrives in the control stream: stop waiting for data connections. */
  abandonData?: () => void;
  /** Whether a single-file root needs its parent created (local pull of one file). */
  prepareFileRoot?: () => void;
}

/** What the DESTINATION role produced. */
export interface DestinationOutcome {
  /** Whether the source reported a complete scan. */
  scanComplete: boolean;
  /** Why deletions were skipped, if they were. */
  deletionsSkipped: string | null;
  /** The SOURCE's summary (sources removed, source-side failures). */
  source: Summary;
}

interface ChunkWrite {
  queue: AsyncQueue<Uint8Array>;
  written: number;
  done: Promise<void>;
  discard: boolean;
}

/**
 * Runs the DESTINATION role: returns after both summaries were exchanged.
 *
 * @param port The control stream.
 * @param options The local destination, counters and data plane.
 * @returns Scan status, deletion outcome and the source's summary.
 * @throws {ProtocolError} When the peer breaks the protocol.
 */
export async function runDestinationRole(
  port: FramePort,
  options: DestinationRoleOptions,
): Promise<DestinationOutcome> {
  const { operation, dest, stats, dryRun, openData } = options;
  const granted = new Map<number, FilePlan>();
  const hashing = new Map<number, FilePlan>();
  const writes: Promise<void>[] = [];
  const chunkWrites = new Map<number, ChunkWrite>();
  let scanComplete = false;
  let manifestDone = false;
  let needEndSent = false;
  let sourceDataDone = false;
  let totalNeeds = 0;
  let totalNeedBytes = 0;
  let receiving: Promise<void> | null = null;
  let rootSeen = false;
  let deletionsSkipped: string | null = null;

  const fileDone = (id: number, ok: boolean, message = ""): Promise<void> =>
    port.send({
      case: "fileDone",
      value: { $typeName: "blit.v1.FileDone", id, ok, bytes: 0n, checksum: "", message },
    });

  const settle = async (id: number, plan: FilePlan, fill: (tmp: string) => Promise<void>) => {
    const ok = await dest.settleFile(plan, fill, { modeSet: false });
    // Only move acts on FileDone (it removes the source); other verbs read the summary.
    if (operation === "move") await fileDone(id, ok, ok ? "" : "not written");
  };

  const sink: PayloadSink = {
    expect: (id) => {
      const plan = granted.get(id);
      return plan ? { size: plan.entry.size } : null;
    },
    writeFile: (id, _size, fill) => {
      const plan = granted.get(id) as FilePlan;
      granted.delete(id);
      return settle(id, plan, fill);
    },
    fileFailed: (id, message) => {
      const plan = granted.get(id);
      granted.delete(id);
      stats.fail(plan?.entry.path ?? `#${id}`, message);
      void fileDone(id, false, message).catch(() => {});
    },
    skipped: (id) => {
      const plan = granted.get(id);
      granted.delete(id);
      stats.fail(plan?.entry.path ?? `#${id}`, "Cannot copy: the source vanished");
    },
  };

  const startReceiving = (): void => {
    if (receiving || !openData || dryRun) return;
    receiving = (async () => {
      port.busy++;
      try {
        const conns = await openData();
        await Promise.all(conns.map((conn) => receivePayloads(conn, sink)));
      } finally {
        port.busy--;
      }
    })();
    receiving.catch(() => {});
  };

  const need = (id: number, plan: FilePlan, needs: { id: number; path: string }[]): void => {
    if (dryRun) {
      dest.announceSend(plan.entry);
      stats.transferred++;
      stats.bytes += plan.entry.size;
      return;
    }
    granted.set(id, plan);
    needs.push({ id, path: plan.entry.path });
    totalNeeds++;
    totalNeedBytes += plan.entry.size;
    stats.planned++;
    stats.plannedBytes += plan.entry.size;
  };

  const sendNeeds = async (needs: { id: number; path: string }[]): Promise<void> => {
    if (needs.length === 0) return;
    startReceiving();
    await port.send({
      case: "needBatch",
      value: {
        $typeName: "blit.v1.NeedBatch",
        needs: needs.map((n) => ({
          $typeName: "blit.v1.Need",
          id: n.id,
          path: n.path,
          offset: 0n,
        })),
      },
    });
  };

  const maybeNeedEnd = async (): Promise<void> => {
    if (!manifestDone || needEndSent || hashing.size > 0) return;
    needEndSent = true;
    await port.send({
      case: "needEnd",
      value: {
        $typeName: "blit.v1.NeedEnd",
        totalNeeds: BigInt(totalNeeds),
        totalBytes: BigInt(totalNeedBytes),
      },
    });
  };

  const planRoot = async (entry: Entry, id: number): Promise<void> => {
    rootSeen = true;
    if (entry.kind === "dir") {
      dest.prepareRoot(entry);
      return;
    }
    options.prepareFileRoot?.();
    const plan = dest.planRootFile(entry);
    if (!plan) return;
    await handlePlan(id, plan);
  };

  const handlePlan = async (id: number, plan: FilePlan): Promise<void> => {
    const needs: { id: number; path: string }[] = [];
    if (plan.entry.kind === "symlink" && plan.entry.path === "") {
      // A single link as the root: write it here.
      const ok = await dest.settleFile(plan, async () => {}, { modeSet: true }).catch(() => false);
      await fileDone(id, ok);
      return;
    }
    if (plan.decision === "send") need(id, plan, needs);
    else if (plan.decision === "hash") {
      hashing.set(id, plan);
      await port.send({
        case: "checksumRequest",
        value: { $typeName: "blit.v1.ChecksumRequest", ids: [id] },
      });
    } else await fileDone(id, plan.decision === "settled");
    await sendNeeds(needs);
  };

  let sourceSummary: Summary | null = null;
  let destSummarySent = false;
  while (sourceSummary === null) {
    const frame = await port.next();
    if (frame === null) {
      throw new ProtocolError("Cannot finish the session: the peer closed the stream");
    }
    switch (frame.case) {
      case "manifestBatch": {
        if (manifestDone) throw new ProtocolError("Cannot accept a manifest after its end");
        for (const wire of frame.value.groups) {
          if (!rootSeen) {
            const first = wire.entries[0];
            if (wire.dir !== "" || wire.entries.length !== 1 || !first || first.path !== "") {
              throw new ProtocolError("Cannot start the manifest: the root entry must come first");
            }
            const { group } = groupFromWire(wire);
            await planRoot(group.entries[0] as Entry, first.id);
            continue;
          }
          const { group, ids } = groupFromWire(wire);
          if (!group.complete) scanComplete = false;
          const plans = dest.planGroup(group);
          const needs: { id: number; path: string }[] = [];
          const checks: number[] = [];
          const byPath = new Map<string, number>();
          group.entries.forEach((e, i) => byPath.set(e.path, ids[i] as number));
          for (const plan of plans) {
            const id = byPath.get(plan.entry.path) as number;
            if (plan.decision === "send") need(id, plan, needs);
            else if (plan.decision === "hash") {
              hashing.set(id, plan);
              checks.push(id);
            } else if (operation === "move") {
              await fileDone(id, plan.decision === "settled");
            }
          }
          await sendNeeds(needs);
          if (checks.length > 0) {
            await port.send({
              case: "checksumRequest",
              value: { $typeName: "blit.v1.ChecksumRequest", ids: checks },
            });
          }
        }
        break;
      }
      case "manifestEnd":
        manifestDone = true;
        scanComplete = frame.value.scanComplete;
        if (!rootSeen) throw new ProtocolError("Cannot finish the manifest: no root entry");
        stats.walkDone = true;
        await maybeNeedEnd();
        break;
      case "checksumBatch": {
        const needs: { id: number; path: string }[] = [];
        for (const c of frame.value.checksums) {
          const plan = hashing.get(c.id);
          if (!plan) throw new ProtocolError(`Cannot use checksum of id ${c.id}: not requested`);
          hashing.delete(c.id);
          let equal = false;
          if (c.error === "") {
            try {
              equal = c.checksum === await dest.hashLocal(plan.entry);
            } catch (error) {
              stats.fail(plan.entry.path, describeError(error));
              continue;
            }
          }
          if (equal) {
            if (operation === "move") await fileDone(c.id, true);
          } else need(c.id, { entry: plan.entry, decision: "send" }, needs);
        }
        await sendNeeds(needs);
        await maybeNeedEnd();
        break;
      }
      case "dataChunk": {
        options.abandonData?.();
        const chunk = frame.value;
        let write = chunkWrites.get(chunk.fileId);
        if (!write) {
          const plan = granted.get(chunk.fileId);
          if (!plan || chunk.offset !== 0n) {
            throw new ProtocolError(`Cannot accept data for id ${chunk.fileId}: not granted`);
          }
          granted.delete(chunk.fileId);
          const queue = new AsyncQueue<Uint8Array>();
          const state: ChunkWrite = { queue, written: 0, done: Promise.resolve(), discard: false };
          state.done = settle(chunk.fileId, plan, async (tmp) => {
            using file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
            for await (const data of queue) {
              let off = 0;
              while (off < data.length) off += await file.write(data.subarray(off));
            }
            if (state.discard) {
              throw new Error("Cannot copy: the source changed during the transfer");
            }
          });
          chunkWrites.set(chunk.fileId, state);
          writes.push(state.done);
          write = state;
        }
        if (chunk.offset !== BigInt(write.written)) write.discard = true;
        else if (chunk.data.length > 0) {
          write.queue.push(chunk.data);
          write.written += chunk.data.length;
        }
        if (chunk.last) {
          write.queue.close();
          chunkWrites.delete(chunk.fileId);
        }
        break;
      }
      case "dataEnd":
        sourceDataDone = true;
        for (const f of frame.value.failures) stats.fail(f.path, f.message);
        if (receiving) await receiving;
        await Promise.all(writes);
        await finish();
        break;
      case "summary":
        if (!destSummarySent) throw new ProtocolError("Cannot accept the source summary yet");
        sourceSummary = frame.value;
        break;
      case "error":
        throw new ProtocolError(`The peer ended the session: ${frame.value.message}`);
      default:
        throw new ProtocolError(`Cannot handle a "${frame.case}" frame in the destination role`);
    }
  }
  return { scanComplete, deletionsSkipped, source: sourceSummary };

  async function finish(): Promise<void> {
    if (!sourceDataDone || !needEndSent) {
      throw new ProtocolError("Cannot finish: data ended before the needs did");
    }
    if (operation === "mirror") {
      const pending = dest.deletions;
      if (!scanComplete) {
        deletionsSkipped = "the source scan did not complete, so nothing was deleted";
      } else if (pending.length > 0) {
        const ok = dryRun || await options.confirmDeletions(pending.map((d) => d.path));
        if (ok) dest.applyDeletions();
        else deletionsSkipped = `${pending.length} deletion(s) were not confirmed`;
      }
    }
    dest.finishDirectories();
    const summary = summaryToWire(stats, deletionsSkipped);
    destSummarySent = true;
    await port.send({ case: "summary", value: summary });
  }
}
