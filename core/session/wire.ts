/**
 * The session's frames as they travel in the gRPC control stream, and conversions between the
 * engine's shapes and the protobuf messages. Both ends (CLI and daemon) speak through a
 * {@linkcode FramePort}, so the SOURCE and DESTINATION roles run unchanged on either side.
 *
 * @module
 */

import {
  type ClientFrame,
  CompareMode as WireCompare,
  EntryKind as WireKind,
  type ManifestEntry,
  type ManifestGroup as WireGroup,
  Operation as WireOperation,
} from "../../proto/gen/blit_pb.ts";
import { create } from "@bufbuild/protobuf";
import { type Summary, SummarySchema } from "../../proto/gen/blit_pb.ts";
import { validateWirePath } from "../paths.ts";
import type { TransferStats } from "../stats.ts";
import { ProtocolError } from "../transport/records.ts";
import type { CompareMode, Entry, EntryKind, TransferOperation } from "../types.ts";
import type { ManifestGroup } from "../walk.ts";

type AnyFrame = NonNullable<ClientFrame["frame"]>;

/** The frames both roles exchange after the handshake (the same cases in either direction). */
export type SessionFrame = Extract<
  AnyFrame,
  {
    case:
      | "manifestBatch"
      | "manifestEnd"
      | "needBatch"
      | "needEnd"
      | "checksumRequest"
      | "checksumBatch"
      | "dataChunk"
      | "tarShardChunk"
      | "fileDone"
      | "dataEnd"
      | "summary"
      | "error";
  }
>;

/** Most entries one manifest batch carries. */
export const MANIFEST_BATCH_ENTRIES = 2048;

/**
 * A bidirectional channel of {@linkcode SessionFrame}s with an idle deadline: `next()` fails
 * when nothing arrives for the idle time, except while payload is moving on the data plane
 * (`busy > 0`), whose own stall guard then applies.
 */
export interface FramePort {
  /**
   * Sends a frame.
   * @param frame The frame.
   * @returns A promise that resolves when the transport can take more (back-pressure).
   */
  send(frame: SessionFrame): Promise<void>;
  /**
   * Receives the next frame.
   * @returns The frame, or `null` when the peer ended the stream.
   * @throws {Error} When the stream failed or the idle deadline passed.
   */
  next(): Promise<SessionFrame | null>;
  /** Count of payload transfers in progress; while above 0 the idle deadline is paused. */
  busy: number;
}

const KIND_TO_WIRE: Record<EntryKind, WireKind> = {
  file: WireKind.FILE,
  dir: WireKind.DIR,
  symlink: WireKind.SYMLINK,
};

/**
 * Converts an engine entry to its wire form.
 * @param entry The entry.
 * @param id Its session id.
 * @returns The protobuf init object.
 */
export function entryToWire(entry: Entry, id: number): Omit<ManifestEntry, "$typeName"> {
  return {
    id,
    path: entry.path,
    kind: KIND_TO_WIRE[entry.kind],
    size: BigInt(entry.size),
    mtimeNs: BigInt(Math.round(entry.mtimeMs * 1000)) * 1000n,
    mode: entry.mode,
    linkTarget: entry.linkTarget ?? "",
  };
}

/**
 * Converts and validates a wire entry received from a peer.
 * @param wire The entry.
 * @param dir The group's directory; the entry must be its direct child.
 * @returns The engine entry.
 * @throws {ProtocolError} For an invalid kind, path or size.
 */
export function entryFromWire(wire: ManifestEntry, dir: string): Entry {
  const kind: EntryKind | null = wire.kind === WireKind.FILE
    ? "file"
    : wire.kind === WireKind.DIR
    ? "dir"
    : wire.kind === WireKind.SYMLINK
    ? "symlink"
    : null;
  if (kind === null) throw new ProtocolError(`Cannot accept entry "${wire.path}": unknown kind`);
  if (wire.path !== "" || dir !== "") {
    const parts = validateWirePath(wire.path);
    const parent = parts.slice(0, -1).join("/");
    if (parts.length === 0 || parent !== dir) {
      throw new ProtocolError(`Cannot accept entry "${wire.path}": not a child of "${dir}"`);
    }
  }
  if (wire.size > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ProtocolError(`Cannot accept entry "${wire.path}": bad size`);
  }
  const entry: Entry = {
    path: wire.path,
    kind,
    size: Number(wire.size),
    mtimeMs: Number(wire.mtimeNs / 1000n) / 1000,
    mode: wire.mode & 0o7777,
  };
  if (kind === "symlink") {
    if (wire.linkTarget.length === 0 || wire.linkTarget.includes("\0")) {
      throw new ProtocolError(`Cannot accept link "${wire.path}": bad target`);
    }
    entry.linkTarget = wire.linkTarget;
  }
  return entry;
}

/**
 * Converts a wire group to an engine group, validating every path.
 * @param group The wire group.
 * @returns The engine group and the ids of its entries, in order.
 */
export function groupFromWire(group: WireGroup): { group: ManifestGroup; ids: number[] } {
  if (group.dir !== "") validateWirePath(group.dir);
  const entries = group.entries.map((e) => entryFromWire(e, group.dir));
  return {
    group: { dir: group.dir, entries, complete: group.complete },
    ids: group.entries.map((e) => e.id),
  };
}

/**
 * Maps a compare mode to the wire enum.
 * @param mode The engine's mode.
 * @returns The wire value.
 */
export function compareToWire(mode: CompareMode): WireCompare {
  return {
    "size-mtime": WireCompare.SIZE_MTIME,
    "checksum": WireCompare.CHECKSUM,
    "size-only": WireCompare.SIZE_ONLY,
    "ignore-times": WireCompare.IGNORE_TIMES,
  }[mode];
}

/**
 * Maps a wire compare mode to the engine's (unset = size+mtime).
 * @param mode The wire value.
 * @returns The engine's mode.
 */
export function compareFromWire(mode: WireCompare): CompareMode {
  switch (mode) {
    case WireCompare.CHECKSUM:
      return "checksum";
    case WireCompare.SIZE_ONLY:
      return "size-only";
    case WireCompare.IGNORE_TIMES:
      return "ignore-times";
    default:
      return "size-mtime";
  }
}

/**
 * Maps an operation to the wire enum.
 * @param operation The verb.
 * @returns The wire value.
 */
export function operationToWire(operation: TransferOperation): WireOperation {
  return { copy: WireOperation.COPY, mirror: WireOperation.MIRROR, move: WireOperation.MOVE }[
    operation
  ];
}

/**
 * Maps a wire operation to the verb.
 * @param operation The wire value.
 * @returns The verb, or `null` when unset or unknown.
 */
export function operationFromWire(operation: WireOperation): TransferOperation | null {
  switch (operation) {
    case WireOperation.COPY:
      return "copy";
    case WireOperation.MIRROR:
      return "mirror";
    case WireOperation.MOVE:
      return "move";
    default:
      return null;
  }
}

/**
 * Builds a side's `Summary` frame from its counters.
 * @param stats The side's counters.
 * @param deletionsSkipped Why mirror deletions were skipped, if they were (destination only).
 * @returns The summary message.
 */
export function summaryToWire(
  stats: TransferStats,
  deletionsSkipped: string | null = null,
): Summary {
  return create(SummarySchema, {
    filesExamined: BigInt(stats.examined),
    filesTransferred: BigInt(stats.transferred),
    bytesTransferred: BigInt(stats.bytes),
    entriesDeleted: BigInt(stats.deleted),
    sourcesRemoved: BigInt(stats.sourcesRemoved),
    filesFailed: BigInt(stats.failed),
    failures: stats.failures.map((f) => ({ path: f.path, message: f.message })),
    failuresTruncated: stats.failed > stats.failures.length,
    durationMs: BigInt(Math.round(performance.now() - stats.startedAt)),
    ...(deletionsSkipped ? { deletionsSkippedReason: deletionsSkipped } : {}),
  });
}
