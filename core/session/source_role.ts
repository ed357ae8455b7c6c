/**
 * The SOURCE role of a session over a {@linkcode FramePort}: walks the tree, streams the
 * manifest, answers needs with payload (data plane, or chunks in the control stream), answers
 * checksum requests, and — for move — removes each source file once the destination reported it
 * verified.
 *
 * @module
 */

import type { Summary } from "../../proto/gen/blit_pb.ts";
import { describeError } from "../errors.ts";
import type { EntryFilter } from "../filter.ts";
import type { FileHasher } from "../hash.ts";
import { AsyncQueue } from "../queue.ts";
import type { TransferStats } from "../stats.ts";
import { type SendItem, sendPayloads } from "../transport/data_plane.ts";
import { ProtocolError } from "../transport/records.ts";
import type { Entry } from "../types.ts";
import { statEntry, walkTree } from "../walk.ts";
import { entryToWire, type FramePort, MANIFEST_BATCH_ENTRIES, summaryToWire } from "./wire.ts";

/** Largest payload slice carried by one `DataChunk`. */
export const CHUNK_BYTES = 1024 * 1024;

/** Options of {@linkcode runSourceRole}. */
export interface SourceRoleOptions {
  /** Absolute path of the source root (directory, file or link). */
  root: string;
  /** Filter of the walk. */
  filter: EntryFilter;
  /** Remove each source file after the destination verified its copy. */
  move: boolean;
  /** Remove emptied directories and (unless `keepRoot`) the root after a move. */
  keepRoot: boolean;
  /** Plan only: no payload, nothing removed. */
  dryRun: boolean;
  /** Counters (examined, failures, sources removed). */
  stats: TransferStats;
  /** Hashes source files for checksum requests. */
  hasher: FileHasher;
  /**
   * Opens the data-plane connections this side writes to, or `null` to carry payload in the
   * control stream. Called once, when the first need arrives.
   */
  openData: (() => Promise<Deno.Conn[]>) | null;
  /** Rejects a path before it is read (the daemon's containment check); throws to refuse. */
  checkPath?: (rel: string) => void;
}

/** What the SOURCE learned from the session. */
export interface SourceOutcome {
  /** The DESTINATION's summary. */
  destination: Summary;
  /** Whether the walk saw every entry. */
  scanComplete: boolean;
}

/**
 * Runs the SOURCE role until the DESTINATION's summary arrives, then sends its own summary.
 *
 * @param port The control stream.
 * @param options Root, filter, data plane and counters.
 * @returns The destination's summary and the scan status.
 * @throws {ProtocolError} When the peer breaks the protocol.
 */
export async function runSourceRole(
  port: FramePort,
  options: SourceRoleOptions,
): Promise<SourceOutcome> {
  const { root, filter, move, dryRun, stats, hasher, openData, checkPath } = options;
  const entries = new Map<number, Entry>();
  const sendQueue = new AsyncQueue<SendItem>();
  const walkedDirs: string[] = [];
  let nextId = 0;
  let scanComplete = true;
  const abs = (rel: string): string => rel === "" ? root : `${root}/${rel}`;

  const walk = async (): Promise<void> => {
    const rootEntry = statEntry(root, "");
    entries.set(nextId, rootEntry);
    await port.send({
      case: "manifestBatch",
      value: {
        $typeName: "blit.v1.ManifestBatch",
        groups: [{
          $typeName: "blit.v1.ManifestGroup",
          dir: "",
          entries: [{ $typeName: "blit.v1.ManifestEntry", ...entryToWire(rootEntry, nextId++) }],
          complete: true,
          continued: false,
        }],
      },
    });
    let totalBytes = rootEntry.kind === "file" ? rootEntry.size : 0;
    if (rootEntry.kind === "dir") {
      let batch: ReturnType<typeof wireGroup>[] = [];
      let batchEntries = 0;
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        const groups = batch;
        batch = [];
        batchEntries = 0;
        await port.send({
          case: "manifestBatch",
          value: { $typeName: "blit.v1.ManifestBatch", groups },
        });
      };
      const walker = walkTree(root, {
        filter,
        onError: (path, message) => {
          scanComplete = false;
          stats.fail(path, message);
        },
      });
      for await (const group of walker) {
        if (!group.complete) scanComplete = false;
        walkedDirs.push(group.dir);
        const ids: number[] = [];
        for (const entry of group.entries) {
          entries.set(nextId, entry);
          ids.push(nextId++);
          stats.examined++;
          if (entry.kind === "file") totalBytes += entry.size;
        }
        batch.push(wireGroup(group.dir, group.entries, ids, group.complete));
        batchEntries += group.entries.length;
        if (batchEntries >= MANIFEST_BATCH_ENTRIES) await flush();
      }
      await flush();
    } else {
      stats.examined++;
    }
    stats.walkDone = true;
    await port.send({
      case: "manifestEnd",
      value: {
        $typeName: "blit.v1.ManifestEnd",
        scanComplete,
        scanErrors: BigInt(stats.failed),
        totalEntries: BigInt(nextId),
        totalBytes: BigInt(totalBytes),
      },
    });
  };

  let dataStarted: Promise<void> | null = null;
  let filesSent = 0;
  let bytesSent = 0;
  const sendFailures: { path: string; message: string }[] = [];
  const startData = (): Promise<void> => {
    if (dataStarted) return dataStarted;
    dataStarted = (async () => {
      port.busy++;
      try {
        const conns = openData ? await openData() : [];
        if (conns.length > 0) {
          const results = await Promise.all(conns.map((conn) => sendPayloads(conn, sendQueue)));
          for (const r of results) {
            filesSent += r.filesSent;
            bytesSent += r.bytesSent;
            for (const f of r.failures) {
              sendFailures.push({
                path: entries.get(f.id)?.path ?? `#${f.id}`,
                message: f.message,
              });
            }
          }
        } else {
          for await (const item of sendQueue) await sendChunks(port, item, sendFailures, entries);
        }
      } finally {
        port.busy--;
      }
      await port.send({
        case: "dataEnd",
        value: {
          $typeName: "blit.v1.DataEnd",
          filesSent: BigInt(filesSent),
          bytesSent: BigInt(bytesSent),
          failures: sendFailures.map((f) => ({ $typeName: "blit.v1.Failure", ...f })),
        },
      });
    })();
    return dataStarted;
  };

  const removals: Promise<void>[] = [];
  const removeSource = (entry: Entry): void => {
    try {
      const now = statEntry(abs(entry.path), entry.path);
      if (now.size !== entry.size || now.mtimeMs !== entry.mtimeMs) {
        stats.fail(
          entry.path || ".",
          "Cannot move: the source changed during the transfer; source kept",
        );
        return;
      }
      Deno.removeSync(abs(entry.path));
      stats.sourcesRemoved++;
    } catch (error) {
      stats.fail(entry.path || ".", `Cannot remove source: ${describeError(error)}`);
    }
  };

  const walking = walk();
  walking.catch(() => {});
  let destination: Summary | null = null;
  while (destination === null) {
    const frame = await port.next();
    if (frame === null) {
      throw new ProtocolError("Cannot finish the session: the peer closed the stream");
    }
    switch (frame.case) {
      case "needBatch":
        for (const need of frame.value.needs) {
          const entry = entries.get(need.id);
          if (!entry || entry.path !== need.path || entry.kind !== "file") {
            throw new ProtocolError(
              `Cannot send "${need.path}": it is not a file of this manifest`,
            );
          }
          checkPath?.(entry.path);
          sendQueue.push({ id: need.id, absPath: abs(entry.path), size: entry.size });
        }
        if (!dryRun) void startData().catch(() => {});
        break;
      case "checksumRequest": {
        const checksums = [];
        for (const id of frame.value.ids) {
          const entry = entries.get(id);
          if (!entry || entry.kind !== "file") {
            throw new ProtocolError(`Cannot hash unknown id ${id}`);
          }
          try {
            checkPath?.(entry.path);
            checksums.push({ id, checksum: await hasher(abs(entry.path)), error: "" });
          } catch (error) {
            checksums.push({ id, checksum: "", error: describeError(error) });
          }
        }
        await port.send({
          case: "checksumBatch",
          value: {
            $typeName: "blit.v1.ChecksumBatch",
            checksums: checksums.map((c) => ({ $typeName: "blit.v1.FileChecksum", ...c })),
          },
        });
        break;
      }
      case "needEnd":
        await walking;
        sendQueue.close();
        if (dryRun || !dataStarted) {
          // Nothing was needed: no data connection to wait for.
          await port.send({
            case: "dataEnd",
            value: { $typeName: "blit.v1.DataEnd", filesSent: 0n, bytesSent: 0n, failures: [] },
          });
        } else await startData();
        break;
      case "fileDone":
        if (move && frame.value.ok && !dryRun) {
          const entry = entries.get(frame.value.id);
          if (!entry || entry.kind === "dir") {
            throw new ProtocolError(`Cannot remove unknown id ${frame.value.id}`);
          }
          removals.push(Promise.resolve().then(() => removeSource(entry)));
        }
        break;
      case "summary":
        destination = frame.value;
        break;
      case "error":
        throw new ProtocolError(`The peer ended the session: ${frame.value.message}`);
      default:
        throw new ProtocolError(`Cannot handle a "${frame.case}" frame in the source role`);
    }
  }
  await walking;
  await Promise.all(removals);
  if (move && !dryRun && walkedDirs.length > 0) {
    const ordered = walkedDirs.filter((d) => d !== "" || !options.keepRoot)
      .sort((a, b) => b.length - a.length);
    for (const dir of ordered) {
      try {
        Deno.removeSync(abs(dir));
      } catch { /* not empty: keep it */ }
    }
  }
  await port.send({ case: "summary", value: summaryToWire(stats) });
  return { destination, scanComplete };
}

function wireGroup(dir: string, list: Entry[], ids: number[], complete: boolean) {
  return {
    $typeName: "blit.v1.ManifestGroup" as const,
    dir,
    entries: list.map((e, i) => ({
      $typeName: "blit.v1.ManifestEntry" as const,
      ...entryToWire(e, ids[i] as number),
    })),
    complete,
    continued: false,
  };
}

async function sendChunks(
  port: FramePort,
  item: SendItem,
  failures: { path: string; message: string }[],
  entries: Map<number, Entry>,
): Promise<void> {
  const path = entries.get(item.id)?.path ?? "";
  let file: Deno.FsFile;
  try {
    file = await Deno.open(item.absPath, { read: true });
  } catch (error) {
    failures.push({ path, message: `Cannot read: ${describeError(error)}` });
    return;
  }
  try {
    let offset = 0;
    const buffer = new Uint8Array(CHUNK_BYTES);
    while (true) {
      const want = Math.min(CHUNK_BYTES, item.size - offset);
      let got = 0;
      while (got < want) {
        const n = await file.read(buffer.subarray(got, want));
        if (n === null) break;
        got += n;
      }
      if (got < want) {
        // The file shrank: an early last chunk makes the destination discard it.
        failures.push({ path, message: "Cannot send: the source shrank during the transfer" });
        await port.send({
          case: "dataChunk",
          value: {
            $typeName: "blit.v1.DataChunk",
            fileId: item.id,
            path: "",
            offset: BigInt(offset + got),
            data: new Uint8Array(0),
            last: true,
            checksum: "",
          },
        });
        return;
      }
      const last = offset + got >= item.size;
      await port.send({
        case: "dataChunk",
        value: {
          $typeName: "blit.v1.DataChunk",
          fileId: item.id,
          path: offset === 0 ? path : "",
          offset: BigInt(offset),
          data: buffer.slice(0, got),
          last,
          checksum: "",
        },
      });
      offset += got;
      if (last) return;
    }
  } finally {
    file.close();
  }
}
