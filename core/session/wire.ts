/**
 * The wire edge of a session: every {@linkcode Frame} to and from its protobuf form, once per
 * direction. What comes in is checked here before a role sees it: every path is a valid wire
 * path (entries are children of their group), every count and length is capped, every enum is
 * known. The roles then check what only they can (ids they announced, directories announced as
 * directories).
 *
 * @module
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  ClientFrame,
  ClientFrameSchema,
  CompareMode as WireCompare,
  EntryKind as WireKind,
  Event as WireEvent,
  ManifestEntry,
  ManifestGroup as WireGroup,
  Open,
  OpenSchema,
  Operation as WireOperation,
  ServerFrame,
  Summary,
} from "../../proto/gen/blit_pb.ts";
import {
  CompareMode as WIRE_COMPARE,
  EntryKind as WIRE_KIND,
  ErrorCode,
  Operation as WIRE_OPERATION,
  Role,
} from "../transport/frame_tables.ts";
import { decodeSignature, encodeSignature } from "../delta/signature.ts";
import type { FilterRule } from "../filter.ts";
import { ProtocolError, quotePath } from "../errors.ts";
import { validateWirePath } from "../paths.ts";
import { MAX_LISTED_FAILURES } from "../stats.ts";
import type {
  CompareMode,
  Entry,
  EntryKind,
  TransferFailure,
  TransferOperation,
} from "../types.ts";
import {
  type BackupTerms,
  CHUNK_BYTES,
  type ConsentRefusal,
  type Frame,
  type ManifestGroup,
  type ManifestItem,
  type SessionTerms,
  type SideSummary,
} from "./frames.ts";
import { backupTermsProblem, CONSENT_PATHS_MAX } from "./plan.ts";
import type { TransferEvent } from "./planner.ts";

/** A session frame as protobuf-es builds it (the same cases on either side of a call). */
export type WireFrame = MessageInitShape<typeof ClientFrameSchema>["frame"];

/** The oneof of a received frame (client or server). */
export type ReceivedFrame = ClientFrame["frame"] | ServerFrame["frame"];

/** Longest text (a message, a failure) taken from a peer. */
const MAX_TEXT = 4096;

const KIND_TO_WIRE: Record<EntryKind, WireKind> = {
  file: WIRE_KIND.FILE,
  dir: WIRE_KIND.DIR,
  symlink: WIRE_KIND.SYMLINK,
};

const KIND_FROM_WIRE: Partial<Record<WireKind, EntryKind>> = {
  [WIRE_KIND.FILE]: "file",
  [WIRE_KIND.DIR]: "dir",
  [WIRE_KIND.SYMLINK]: "symlink",
};

const CONSENT_REFUSALS: readonly ConsentRefusal[] = [
  "declined",
  "no-terminal",
  "not-given",
  "timeout",
];

function entryToWire(entry: Entry, id: number) {
  return {
    id,
    path: entry.path,
    kind: KIND_TO_WIRE[entry.kind],
    size: BigInt(entry.size),
    mtimeNs: msToNs(entry.mtimeMs),
    mode: entry.mode,
    linkTarget: entry.linkTarget ?? "",
    ...(entry.uid === undefined ? {} : { uid: entry.uid }),
    ...(entry.gid === undefined ? {} : { gid: entry.gid }),
    hardLink: entry.hardLink ?? "",
  };
}

function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms * 1000)) * 1000n;
}

function nsToMs(ns: bigint): number {
  return Number(ns / 1000n) / 1000;
}

/** A uint64 from a peer, as a safe integer. */
function count(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < 0n) {
    throw new ProtocolError(`Cannot accept ${what}: ${value} is out of range`);
  }
  return Number(value);
}

/** The actions a peer may report (`remove-source` is never reported). */
const EVENT_ACTIONS: ReadonlySet<string> = new Set(["send", "link", "mkdir", "delete"]);

/** One reported action from a peer: a known action, a bounded path and itemize string. */
function eventFromWire(wire: WireEvent): TransferEvent {
  if (!EVENT_ACTIONS.has(wire.action)) {
    throw new ProtocolError(`Cannot accept a report of the action "${text(wire.action)}"`);
  }
  if (wire.itemize.length > ITEMIZE_LENGTH) {
    throw new ProtocolError("Cannot accept a report whose itemize string is too long");
  }
  validateWirePath(wire.path);
  if (wire.linkTo !== "") validateWirePath(wire.linkTo);
  return {
    action: wire.action as TransferEvent["action"],
    path: wire.path,
    size: count(wire.size, "a reported size"),
    ...(wire.itemize === "" ? {} : { itemize: wire.itemize }),
    ...(wire.linkTo === "" ? {} : { linkTo: wire.linkTo }),
    ...(wire.dir && wire.action === "delete" ? { dir: true } : {}),
  };
}

/**
 * The backup terms of an Open: the directory is a path inside the destination (checked as every
 * wire path is), the suffix one bounded name part without `/`.
 */
function backupFromWire(open: Open): BackupTerms | null {
  if (!open.backup) return null;
  const terms = { dir: open.backupDir, suffix: open.backupSuffix };
  const problem = backupTermsProblem(terms);
  if (problem !== null) {
    throw new ProtocolError(
      `Cannot keep backups: the ${problem.field === "dir" ? "directory" : "suffix"} is ` +
        `refused (${text(problem.detail)})`,
    );
  }
  return terms;
}

/** Most further sources an Open may name (`Open.more_paths`). */
export const MAX_MORE_PATHS = 1000;

function morePathsFromWire(paths: readonly string[]): string[] {
  if (paths.length > MAX_MORE_PATHS) {
    throw new ProtocolError(`Cannot take more than ${MAX_MORE_PATHS + 1} sources in one session`);
  }
  return [...paths];
}

/** Length of rsync's itemize strings. */
const ITEMIZE_LENGTH = 11;

/** A size limit from a peer: unset is no limit; beyond a safe integer, the largest one. */
function sizeLimitFromWire(value: bigint | undefined): number | null {
  if (value === undefined) return null;
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

function text(value: string): string {
  return value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT)}…` : value;
}

function entryFromWire(wire: ManifestEntry, dir: string): ManifestItem {
  const kind = KIND_FROM_WIRE[wire.kind];
  if (kind === undefined) {
    throw new ProtocolError(`Cannot accept entry "${wire.path}": unknown kind`);
  }
  const parts = validateWirePath(wire.path);
  if (parts.length === 0 || parts.slice(0, -1).join("/") !== dir) {
    throw new ProtocolError(`Cannot accept entry "${wire.path}": not a child of "${dir}"`);
  }
  const item: ManifestItem = {
    id: wire.id,
    path: wire.path,
    kind,
    size: count(wire.size, `the size of "${wire.path}"`),
    mtimeMs: nsToMs(wire.mtimeNs),
    mode: wire.mode & 0o7777,
  };
  if (kind === "symlink") item.linkTarget = linkTargetFromWire(wire);
  if (wire.uid !== undefined) item.uid = wire.uid;
  if (wire.gid !== undefined) item.gid = wire.gid;
  if (wire.hardLink !== "") item.hardLink = hardLinkFromWire(wire, kind);
  return item;
}

/** The first name of a hard-linked file: another file's path, checked as every wire path is. */
function hardLinkFromWire(wire: ManifestEntry, kind: EntryKind): string {
  if (kind !== "file") {
    throw new ProtocolError(`Cannot accept "${wire.path}": only a file can be a hard link`);
  }
  const parts = validateWirePath(wire.hardLink);
  if (parts.length === 0 || wire.hardLink === wire.path) {
    throw new ProtocolError(`Cannot accept "${wire.path}": a hard link to itself or the root`);
  }
  return wire.hardLink;
}

function linkTargetFromWire(wire: ManifestEntry): string {
  const target = wire.linkTarget;
  if (target.length === 0 || target.length > MAX_TEXT || target.includes("\0")) {
    throw new ProtocolError(`Cannot accept link "${wire.path}": bad target`);
  }
  return target;
}

function groupFromWire(group: WireGroup): ManifestGroup {
  if (group.continued) throw new ProtocolError("Cannot accept a continued group");
  validateWirePath(group.dir);
  const entries = group.entries.map((e) => entryFromWire(e, group.dir));
  // One name, one entry: a second one (a file, then a directory of that name) is a lie.
  const names = new Set<string>();
  for (const entry of entries) {
    if (names.has(entry.path)) {
      throw new ProtocolError(
        `Cannot accept entry ${quotePath(entry.path)}: it is in its group twice`,
      );
    }
    names.add(entry.path);
  }
  return { dir: group.dir, entries, complete: group.complete };
}

function failuresFromWire(list: readonly { path: string; message: string }[]): TransferFailure[] {
  return list.slice(0, MAX_LISTED_FAILURES).map((f) => ({
    path: text(f.path),
    message: text(f.message),
  }));
}

function summaryToWire(summary: SideSummary) {
  return {
    filesExamined: BigInt(summary.examined),
    filesTransferred: BigInt(summary.transferred),
    bytesTransferred: BigInt(summary.bytes),
    entriesDeleted: BigInt(summary.deleted),
    sourcesRemoved: BigInt(summary.sourcesRemoved),
    filesFailed: BigInt(summary.failed),
    failures: summary.failures,
    failuresTruncated: summary.failed > summary.failures.length,
    ...(summary.deletionsSkipped === null
      ? {}
      : { deletionsSkippedReason: summary.deletionsSkipped }),
  };
}

function summaryFromWire(summary: Summary): SideSummary {
  return {
    examined: count(summary.filesExamined, "a summary"),
    transferred: count(summary.filesTransferred, "a summary"),
    bytes: count(summary.bytesTransferred, "a summary"),
    deleted: count(summary.entriesDeleted, "a summary"),
    sourcesRemoved: count(summary.sourcesRemoved, "a summary"),
    failed: count(summary.filesFailed, "a summary"),
    failures: failuresFromWire(summary.failures),
    deletionsSkipped: summary.deletionsSkippedReason === undefined
      ? null
      : text(summary.deletionsSkippedReason),
  };
}

/**
 * Converts a frame to its protobuf form.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { frameToWire } from "./wire.ts";
 * deepStrictEqual(frameToWire({ type: "keepalive" }), { case: "keepalive", value: {} });
 * ```
 *
 * @param frame The frame.
 * @returns The oneof to put in a `ClientFrame` or `ServerFrame`.
 */
export function frameToWire(frame: Frame): WireFrame {
  switch (frame.type) {
    case "root":
      return {
        case: "sourceRoot",
        value: {
          entry: entryToWire(frame.root.entry, 0),
          name: frame.root.name,
          contentsOnly: frame.root.contentsOnly,
          merged: frame.root.merged ?? false,
        },
      };
    case "manifest":
      return {
        case: "manifestBatch",
        value: {
          groups: frame.groups.map((g) => ({
            dir: g.dir,
            entries: g.entries.map((e) => entryToWire(e, e.id)),
            complete: g.complete,
          })),
        },
      };
    case "manifestEnd":
      return {
        case: "manifestEnd",
        value: {
          scanComplete: frame.scanComplete,
          totalEntries: BigInt(frame.entries),
          totalBytes: BigInt(frame.bytes),
        },
      };
    case "needs":
      return {
        case: "needBatch",
        value: {
          needs: frame.needs.map((n) => ({
            id: n.id,
            path: n.path,
            ...(n.basis ? { basis: encodeSignature(n.basis) } : {}),
            ...(n.basis && n.resume ? { resume: true } : {}),
          })),
        },
      };
    case "needEnd":
      return {
        case: "needEnd",
        value: { totalNeeds: BigInt(frame.needs), totalBytes: BigInt(frame.bytes) },
      };
    case "checksumRequest":
      return { case: "checksumRequest", value: { ids: frame.ids } };
    case "checksums":
      return {
        case: "checksumBatch",
        value: {
          checksums: frame.digests.map((d) => ({ id: d.id, checksum: d.digest, error: d.error })),
        },
      };
    case "chunk":
      return {
        case: "dataChunk",
        value: {
          fileId: frame.id,
          offset: BigInt(frame.offset),
          data: frame.data,
          last: frame.last,
        },
      };
    case "filesDone":
      return {
        case: "fileDoneBatch",
        value: {
          files: frame.files.map((f) => ({
            id: f.id,
            ok: f.ok,
            bytes: BigInt(f.size),
            checksum: f.digest,
            message: f.message,
            mtimeNs: msToNs(f.mtimeMs),
          })),
        },
      };
    case "dataEnd":
      return { case: "dataEnd", value: { failures: frame.failures } };
    case "events":
      return {
        case: "eventBatch",
        value: {
          events: frame.events.map((e) => ({
            action: e.action,
            path: e.path,
            size: BigInt(e.size ?? 0),
            itemize: e.itemize ?? "",
            linkTo: e.linkTo ?? "",
            dir: e.dir ?? false,
          })),
        },
      };
    case "consentRequest":
      return { case: "consentRequest", value: { paths: frame.paths, total: BigInt(frame.total) } };
    case "consentReply":
      return {
        case: "consentReply",
        value: { granted: frame.granted, refusal: frame.refusal ?? "" },
      };
    case "keepalive":
      return { case: "keepalive", value: {} };
    case "summary":
      return { case: "summary", value: summaryToWire(frame.summary) };
    case "abort": {
      const refused = frame.abort.code.includes("-");
      return {
        case: "error",
        value: {
          code: refused
            ? ErrorCode.REFUSED
            : frame.abort.code === "protocol"
            ? ErrorCode.PROTOCOL
            : ErrorCode.IO,
          message: frame.abort.message,
          reason: refused ? frame.abort.code : "",
          subject: frame.abort.subject,
        },
      };
    }
  }
}

/**
 * Converts and checks a received session frame.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert/strict";
 * import { create } from "@bufbuild/protobuf";
 * import { ClientFrameSchema } from "../../proto/gen/blit_pb.ts";
 * import { frameFromWire } from "./wire.ts";
 * const wire = (frame: object) => create(ClientFrameSchema, { frame } as never).frame;
 * deepStrictEqual(frameFromWire(wire({ case: "keepalive", value: {} })), { type: "keepalive" });
 * const bad = wire({ case: "needBatch", value: { needs: [{ id: 1, path: "../x" }] } });
 * throws(() => frameFromWire(bad));
 * ```
 *
 * @param wire The oneof of a `ClientFrame` or `ServerFrame`.
 * @throws {ProtocolError} For a frame that is not a session frame, or anything invalid in it.
 * @returns The frame.
 */
export function frameFromWire(wire: ReceivedFrame): Frame {
  switch (wire.case) {
    case "sourceRoot": {
      const entry = wire.value.entry;
      const kind = entry ? KIND_FROM_WIRE[entry.kind] : undefined;
      if (!entry || kind === undefined || entry.path !== "" || entry.id !== 0) {
        throw new ProtocolError("Cannot accept the source root: bad entry");
      }
      const name = wire.value.name;
      if (name !== "" && validateWirePath(name).length !== 1) {
        throw new ProtocolError(`Cannot accept the source root name "${text(name)}"`);
      }
      const root: Entry = {
        path: "",
        kind,
        size: count(entry.size, "the root's size"),
        mtimeMs: nsToMs(entry.mtimeNs),
        mode: entry.mode & 0o7777,
      };
      if (kind === "symlink") root.linkTarget = linkTargetFromWire(entry);
      const { contentsOnly, merged } = wire.value;
      if (merged && (kind !== "dir" || !contentsOnly)) {
        throw new ProtocolError(
          "Cannot accept a merged source root that is not a directory's contents",
        );
      }
      return {
        type: "root",
        root: { entry: root, name, contentsOnly, ...(merged ? { merged: true } : {}) },
      };
    }
    case "manifestBatch":
      return { type: "manifest", groups: wire.value.groups.map(groupFromWire) };
    case "manifestEnd":
      return {
        type: "manifestEnd",
        scanComplete: wire.value.scanComplete === true,
        entries: count(wire.value.totalEntries, "the manifest's size"),
        bytes: count(wire.value.totalBytes, "the manifest's size"),
      };
    case "needBatch":
      return {
        type: "needs",
        needs: wire.value.needs.map((n) => {
          validateWirePath(n.path);
          // The signature's caps are checked before anything is allocated for it.
          if (n.basis.length === 0) return { id: n.id, path: n.path };
          const basis = decodeSignature(n.basis);
          return { id: n.id, path: n.path, basis, ...(n.resume ? { resume: true } : {}) };
        }),
      };
    case "needEnd":
      return {
        type: "needEnd",
        needs: count(wire.value.totalNeeds, "the needs"),
        bytes: count(wire.value.totalBytes, "the needs"),
      };
    case "checksumRequest":
      return { type: "checksumRequest", ids: [...wire.value.ids] };
    case "checksumBatch":
      return {
        type: "checksums",
        digests: wire.value.checksums.map((c) => ({
          id: c.id,
          digest: text(c.checksum),
          error: text(c.error),
        })),
      };
    case "dataChunk": {
      const data = wire.value.data;
      if (data.length > CHUNK_BYTES) {
        throw new ProtocolError(`Cannot accept a chunk of ${data.length} bytes`);
      }
      return {
        type: "chunk",
        id: wire.value.fileId,
        offset: count(wire.value.offset, "a chunk offset"),
        data,
        last: wire.value.last === true,
      };
    }
    case "fileDoneBatch":
      return {
        type: "filesDone",
        files: wire.value.files.map((f) => ({
          id: f.id,
          ok: f.ok,
          size: count(f.bytes, "a file report"),
          mtimeMs: nsToMs(f.mtimeNs),
          digest: text(f.checksum),
          message: text(f.message),
        })),
      };
    case "dataEnd":
      return { type: "dataEnd", failures: failuresFromWire(wire.value.failures) };
    case "eventBatch":
      return { type: "events", events: wire.value.events.map(eventFromWire) };
    case "consentRequest": {
      const paths = wire.value.paths;
      if (paths.length > CONSENT_PATHS_MAX) {
        throw new ProtocolError(`Cannot accept a consent request of ${paths.length} paths`);
      }
      for (const path of paths) validateWirePath(path);
      return {
        type: "consentRequest",
        paths: [...paths],
        total: count(wire.value.total, "a count"),
      };
    }
    case "consentReply": {
      const refusal = wire.value.refusal;
      const granted = wire.value.granted === true;
      if (!granted && !(CONSENT_REFUSALS as readonly string[]).includes(refusal)) {
        throw new ProtocolError(`Cannot accept the consent refusal "${text(refusal)}"`);
      }
      return {
        type: "consentReply",
        granted,
        refusal: granted ? null : refusal as ConsentRefusal,
      };
    }
    case "keepalive":
      return { type: "keepalive" };
    case "summary":
      return { type: "summary", summary: summaryFromWire(wire.value) };
    case "error":
      return {
        type: "abort",
        abort: {
          code: wire.value.reason !== ""
            ? text(wire.value.reason)
            : wire.value.code === ErrorCode.PROTOCOL
            ? "protocol"
            : "io",
          message: text(wire.value.message),
          subject: text(wire.value.subject),
        },
      };
    default:
      throw new ProtocolError(`Cannot handle a "${wire.case ?? "empty"}" frame in a session`);
  }
}

/**
 * Maps a compare mode to the wire enum.
 * @param mode The engine's mode.
 * @returns The wire value.
 */
export function compareToWire(mode: CompareMode): WireCompare {
  return {
    "size-mtime": WIRE_COMPARE.SIZE_MTIME,
    "checksum": WIRE_COMPARE.CHECKSUM,
    "size-only": WIRE_COMPARE.SIZE_ONLY,
    "ignore-times": WIRE_COMPARE.IGNORE_TIMES,
  }[mode];
}

/**
 * Maps a wire compare mode to the engine's (unset = size+mtime).
 * @param mode The wire value.
 * @returns The engine's mode.
 */
export function compareFromWire(mode: WireCompare): CompareMode {
  switch (mode) {
    case WIRE_COMPARE.CHECKSUM:
      return "checksum";
    case WIRE_COMPARE.SIZE_ONLY:
      return "size-only";
    case WIRE_COMPARE.IGNORE_TIMES:
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
  return { copy: WIRE_OPERATION.COPY, mirror: WIRE_OPERATION.MIRROR, move: WIRE_OPERATION.MOVE }[
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
    case WIRE_OPERATION.COPY:
      return "copy";
    case WIRE_OPERATION.MIRROR:
      return "mirror";
    case WIRE_OPERATION.MOVE:
      return "move";
    default:
      return null;
  }
}

/** What a client asks for in its Open, decoded. */
export interface OpenRequest {
  /** The role the daemon plays: `source` for a pull, `destination` for a push. */
  daemonRole: "source" | "destination";
  /** Module name (`""`: the default root). */
  module: string;
  /** Path inside the module as typed (a trailing `/` kept). */
  path: string;
  /** Further sources in the module, as `path` is (a pull of several sources); absent: none. */
  morePaths?: string[];
  /** The terms. */
  terms: SessionTerms;
  /** Include/exclude rules in order. */
  filters: FilterRule[];
  /** Carry payload in the control stream. */
  forceGrpc: boolean;
}

/**
 * Builds the Open a client sends.
 *
 * @param request What to ask for.
 * @returns The protobuf init object.
 */
export function openToWire(request: OpenRequest): MessageInitShape<typeof OpenSchema> {
  const { terms } = request;
  return {
    role: request.daemonRole === "source" ? Role.SOURCE : Role.DESTINATION,
    module: request.module,
    path: request.path,
    morePaths: request.morePaths ?? [],
    operation: operationToWire(terms.operation),
    compare: compareToWire(terms.compare),
    ignoreExisting: terms.ignoreExisting,
    dryRun: terms.dryRun,
    filterRules: request.filters.map((r) => `${r.action === "include" ? "+" : "-"} ${r.pattern}`),
    forceGrpcData: request.forceGrpc,
    wholeFile: terms.wholeFile,
    noResume: !terms.resume,
    update: terms.update,
    deleteExcluded: terms.deleteExcluded,
    reportEvents: terms.reportEvents,
    oneFileSystem: terms.oneFileSystem,
    backup: terms.backup !== null,
    backupDir: terms.backup?.dir ?? "",
    backupSuffix: terms.backup?.suffix ?? "",
    keepOwner: terms.keepOwner,
    hardLinks: terms.hardLinks,
    dataStreams: 2,
    ...(terms.maxDelete === null ? {} : { maxDelete: BigInt(terms.maxDelete) }),
    ...(terms.minSize === null ? {} : { minSize: BigInt(terms.minSize) }),
    ...(terms.maxSize === null ? {} : { maxSize: BigInt(terms.maxSize) }),
  };
}

/**
 * Decodes and checks a client's Open.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { create } from "@bufbuild/protobuf";
 * import { OpenSchema, Operation, Role } from "../../proto/gen/blit_pb.ts";
 * import { openFromWire } from "./wire.ts";
 * const open = create(OpenSchema, { role: Role.SOURCE, module: "m", operation: Operation.COPY });
 * strictEqual(openFromWire(open).daemonRole, "source");
 * throws(() => openFromWire({ ...open, filterRules: ["bad"] }));
 * ```
 *
 * @param open The Open.
 * @throws {ProtocolError} For a missing role or operation, or a malformed filter rule.
 * @returns The request.
 */
export function openFromWire(open: Open): OpenRequest {
  const operation = operationFromWire(open.operation);
  if (!operation) throw new ProtocolError("Cannot start: no operation given");
  if (open.role !== Role.SOURCE && open.role !== Role.DESTINATION) {
    throw new ProtocolError("Cannot start: no role given");
  }
  const filters: FilterRule[] = open.filterRules.map((rule) => {
    const match = /^([+-]) (.+)$/.exec(rule);
    if (!match) {
      throw new ProtocolError(
        `Cannot use filter rule "${text(rule)}": expected "+ GLOB" or "- GLOB"`,
      );
    }
    return { action: match[1] === "+" ? "include" : "exclude", pattern: match[2] as string };
  });
  const maxDelete = open.maxDelete === undefined ? null : Number(open.maxDelete);
  return {
    daemonRole: open.role === Role.SOURCE ? "source" : "destination",
    module: open.module,
    path: open.path,
    morePaths: morePathsFromWire(open.morePaths),
    terms: {
      operation,
      compare: compareFromWire(open.compare),
      ignoreExisting: open.ignoreExisting,
      dryRun: open.dryRun,
      maxDelete: maxDelete !== null && maxDelete > Number.MAX_SAFE_INTEGER ? null : maxDelete,
      wholeFile: open.wholeFile,
      resume: !open.noResume,
      update: open.update,
      minSize: sizeLimitFromWire(open.minSize),
      maxSize: sizeLimitFromWire(open.maxSize),
      deleteExcluded: open.deleteExcluded,
      reportEvents: open.reportEvents,
      oneFileSystem: open.oneFileSystem,
      backup: backupFromWire(open),
      keepOwner: open.keepOwner,
      hardLinks: open.hardLinks,
    },
    filters,
    forceGrpc: open.forceGrpcData,
  };
}
