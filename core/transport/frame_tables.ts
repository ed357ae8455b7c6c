/**
 * The field tables of a transfer session's frames (`ClientFrame`, `ServerFrame` and every
 * message they hold, from `proto/blit.proto`) for the codec of `message_codec.ts`, their codecs,
 * and the values of the protocol's enums. Nothing here loads `@bufbuild/protobuf`: a transfer
 * client needs neither it nor `proto/gen/blit_pb.ts` at run time (types only).
 * `tests/message_codec_test.ts` holds these tables equal to the generated descriptors, and the
 * two codecs equal on the same messages.
 *
 * @module
 */

import type { ClientFrame, ServerFrame } from "../../proto/gen/blit_pb.ts";
import { codecOf, type FieldTable, type MessageCodec, type MessageTable } from "./message_codec.ts";

/** `blit.v1.Role`. */
export const Role = { UNSPECIFIED: 0, SOURCE: 1, DESTINATION: 2 } as const;
/** A value of {@linkcode Role}. */
export type Role = (typeof Role)[keyof typeof Role];

/** `blit.v1.Operation`. */
export const Operation = { UNSPECIFIED: 0, COPY: 1, MIRROR: 2, MOVE: 3 } as const;
/** A value of {@linkcode Operation}. */
export type Operation = (typeof Operation)[keyof typeof Operation];

/** `blit.v1.CompareMode`. */
export const CompareMode = {
  UNSPECIFIED: 0,
  SIZE_MTIME: 1,
  CHECKSUM: 2,
  SIZE_ONLY: 3,
  IGNORE_TIMES: 4,
} as const;
/** A value of {@linkcode CompareMode}. */
export type CompareMode = (typeof CompareMode)[keyof typeof CompareMode];

/** `blit.v1.EntryKind`. */
export const EntryKind = { UNSPECIFIED: 0, FILE: 1, DIR: 2, SYMLINK: 3 } as const;
/** A value of {@linkcode EntryKind}. */
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** `blit.v1.RefuseCode`. */
export const RefuseCode = {
  UNSPECIFIED: 0,
  MODULE_UNKNOWN: 1,
  READ_ONLY: 2,
  PATH_INVALID: 3,
  PATH_NOT_FOUND: 4,
  VERSION_MISMATCH: 5,
  BAD_REQUEST: 6,
  INTERNAL: 7,
  BUSY: 8,
  PERMISSION_DENIED: 9,
} as const;
/** A value of {@linkcode RefuseCode}. */
export type RefuseCode = (typeof RefuseCode)[keyof typeof RefuseCode];

/** `blit.v1.ErrorCode`. */
export const ErrorCode = {
  UNSPECIFIED: 0,
  PROTOCOL: 1,
  CANCELLED: 2,
  IO: 3,
  DATA_PLANE: 4,
  TIMEOUT: 5,
  INTERNAL: 6,
  REFUSED: 7,
} as const;
/** A value of {@linkcode ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** `blit.v1.Accept`. */
export const AcceptTable: MessageTable = {
  typeName: "blit.v1.Accept",
  fields: [
    { no: 1, name: "protocolVersion", kind: "uint32" },
    { no: 2, name: "dataPort", kind: "uint32" },
    { no: 3, name: "sessionToken", kind: "bytes" },
    { no: 4, name: "motd", kind: "string" },
    { no: 5, name: "dataStreams", kind: "uint32" },
  ],
};

/** `blit.v1.Challenge`. */
export const ChallengeTable: MessageTable = {
  typeName: "blit.v1.Challenge",
  fields: [
    { no: 1, name: "nonce", kind: "bytes" },
    { no: 2, name: "tlsFingerprint", kind: "string" },
  ],
};

/** `blit.v1.ChecksumBatch`. */
export const ChecksumBatchTable: MessageTable = {
  typeName: "blit.v1.ChecksumBatch",
  fields: [
    { no: 1, name: "checksums", kind: "message", message: () => FileChecksumTable, repeated: true },
  ],
};

/** `blit.v1.ChecksumRequest`. */
export const ChecksumRequestTable: MessageTable = {
  typeName: "blit.v1.ChecksumRequest",
  fields: [
    { no: 1, name: "ids", kind: "uint32", repeated: true },
  ],
};

/** A case of a frame's `frame` oneof: a message field. */
function frameCase(no: number, name: string, message: () => MessageTable): FieldTable {
  return { no, name, kind: "message", message, oneof: "frame" };
}

/** The cases both sides send (field numbers 3–19). */
const SHARED_CASES: readonly FieldTable[] = [
  frameCase(3, "manifestBatch", () => ManifestBatchTable),
  frameCase(4, "manifestEnd", () => ManifestEndTable),
  frameCase(5, "needBatch", () => NeedBatchTable),
  frameCase(6, "needEnd", () => NeedEndTable),
  frameCase(7, "checksumRequest", () => ChecksumRequestTable),
  frameCase(8, "checksumBatch", () => ChecksumBatchTable),
  frameCase(9, "dataChunk", () => DataChunkTable),
  frameCase(12, "dataEnd", () => DataEndTable),
  frameCase(13, "summary", () => SummaryTable),
  frameCase(14, "error", () => ErrorTable),
  frameCase(15, "sourceRoot", () => SourceRootTable),
  frameCase(16, "consentRequest", () => ConsentRequestTable),
  frameCase(17, "consentReply", () => ConsentReplyTable),
  frameCase(18, "keepalive", () => KeepaliveTable),
  frameCase(19, "fileDoneBatch", () => FileDoneBatchTable),
];

/** The reported actions (field number 21, after the server's challenge). */
const EVENT_CASE: FieldTable = frameCase(21, "eventBatch", () => EventBatchTable);

/** `blit.v1.ClientFrame`. */
export const ClientFrameTable: MessageTable = {
  typeName: "blit.v1.ClientFrame",
  fields: [
    frameCase(1, "hello", () => HelloTable),
    frameCase(2, "open", () => OpenTable),
    ...SHARED_CASES,
    EVENT_CASE,
  ],
};

/** `blit.v1.ConsentReply`. */
export const ConsentReplyTable: MessageTable = {
  typeName: "blit.v1.ConsentReply",
  fields: [
    { no: 1, name: "granted", kind: "bool" },
    { no: 2, name: "refusal", kind: "string" },
  ],
};

/** `blit.v1.ConsentRequest`. */
export const ConsentRequestTable: MessageTable = {
  typeName: "blit.v1.ConsentRequest",
  fields: [
    { no: 1, name: "paths", kind: "string", repeated: true },
    { no: 2, name: "total", kind: "uint64" },
  ],
};

/** `blit.v1.DataChunk`. */
export const DataChunkTable: MessageTable = {
  typeName: "blit.v1.DataChunk",
  fields: [
    { no: 1, name: "fileId", kind: "uint32" },
    { no: 2, name: "path", kind: "string" },
    { no: 3, name: "offset", kind: "uint64" },
    { no: 4, name: "data", kind: "bytes" },
    { no: 5, name: "last", kind: "bool" },
    { no: 6, name: "checksum", kind: "string" },
  ],
};

/** `blit.v1.DataEnd`. */
export const DataEndTable: MessageTable = {
  typeName: "blit.v1.DataEnd",
  fields: [
    { no: 1, name: "filesSent", kind: "uint64" },
    { no: 2, name: "bytesSent", kind: "uint64" },
    { no: 3, name: "failures", kind: "message", message: () => FailureTable, repeated: true },
  ],
};

/** `blit.v1.Error`. */
export const ErrorTable: MessageTable = {
  typeName: "blit.v1.Error",
  fields: [
    { no: 1, name: "code", kind: "enum" },
    { no: 2, name: "message", kind: "string" },
    { no: 3, name: "reason", kind: "string" },
    { no: 4, name: "subject", kind: "string" },
  ],
};

/** `blit.v1.Failure`. */
export const FailureTable: MessageTable = {
  typeName: "blit.v1.Failure",
  fields: [
    { no: 1, name: "path", kind: "string" },
    { no: 2, name: "message", kind: "string" },
  ],
};

/** `blit.v1.FileChecksum`. */
export const FileChecksumTable: MessageTable = {
  typeName: "blit.v1.FileChecksum",
  fields: [
    { no: 1, name: "id", kind: "uint32" },
    { no: 2, name: "checksum", kind: "string" },
    { no: 3, name: "error", kind: "string" },
  ],
};

/** `blit.v1.FileDone`. */
export const FileDoneTable: MessageTable = {
  typeName: "blit.v1.FileDone",
  fields: [
    { no: 1, name: "id", kind: "uint32" },
    { no: 2, name: "ok", kind: "bool" },
    { no: 3, name: "bytes", kind: "uint64" },
    { no: 4, name: "checksum", kind: "string" },
    { no: 5, name: "message", kind: "string" },
    { no: 6, name: "mtimeNs", kind: "int64" },
  ],
};

/** `blit.v1.Event`. */
export const EventTable: MessageTable = {
  typeName: "blit.v1.Event",
  fields: [
    { no: 1, name: "action", kind: "string" },
    { no: 2, name: "path", kind: "string" },
    { no: 3, name: "size", kind: "uint64" },
    { no: 4, name: "itemize", kind: "string" },
    { no: 5, name: "linkTo", kind: "string" },
    { no: 6, name: "dir", kind: "bool" },
  ],
};

/** `blit.v1.EventBatch`. */
export const EventBatchTable: MessageTable = {
  typeName: "blit.v1.EventBatch",
  fields: [
    { no: 1, name: "events", kind: "message", message: () => EventTable, repeated: true },
  ],
};

/** `blit.v1.FileDoneBatch`. */
export const FileDoneBatchTable: MessageTable = {
  typeName: "blit.v1.FileDoneBatch",
  fields: [
    { no: 1, name: "files", kind: "message", message: () => FileDoneTable, repeated: true },
  ],
};

/** `blit.v1.Hello`. */
export const HelloTable: MessageTable = {
  typeName: "blit.v1.Hello",
  fields: [
    { no: 1, name: "protocolVersion", kind: "uint32" },
    { no: 2, name: "clientName", kind: "string" },
  ],
};

/** `blit.v1.Keepalive`. */
export const KeepaliveTable: MessageTable = {
  typeName: "blit.v1.Keepalive",
  fields: [],
};

/** `blit.v1.ManifestBatch`. */
export const ManifestBatchTable: MessageTable = {
  typeName: "blit.v1.ManifestBatch",
  fields: [
    { no: 1, name: "groups", kind: "message", message: () => ManifestGroupTable, repeated: true },
  ],
};

/** `blit.v1.ManifestEnd`. */
export const ManifestEndTable: MessageTable = {
  typeName: "blit.v1.ManifestEnd",
  fields: [
    { no: 1, name: "scanComplete", kind: "bool" },
    { no: 2, name: "scanErrors", kind: "uint64" },
    { no: 3, name: "totalEntries", kind: "uint64" },
    { no: 4, name: "totalBytes", kind: "uint64" },
  ],
};

/** `blit.v1.ManifestEntry`. */
export const ManifestEntryTable: MessageTable = {
  typeName: "blit.v1.ManifestEntry",
  fields: [
    { no: 1, name: "id", kind: "uint32" },
    { no: 2, name: "path", kind: "string" },
    { no: 3, name: "kind", kind: "enum" },
    { no: 4, name: "size", kind: "uint64" },
    { no: 5, name: "mtimeNs", kind: "int64" },
    { no: 6, name: "mode", kind: "uint32" },
    { no: 7, name: "linkTarget", kind: "string" },
    { no: 8, name: "uid", kind: "uint32", optional: true },
    { no: 9, name: "gid", kind: "uint32", optional: true },
    { no: 10, name: "hardLink", kind: "string" },
  ],
};

/** `blit.v1.ManifestGroup`. */
export const ManifestGroupTable: MessageTable = {
  typeName: "blit.v1.ManifestGroup",
  fields: [
    { no: 1, name: "dir", kind: "string" },
    { no: 2, name: "entries", kind: "message", message: () => ManifestEntryTable, repeated: true },
    { no: 3, name: "complete", kind: "bool" },
    { no: 4, name: "continued", kind: "bool" },
  ],
};

/** `blit.v1.Need`. */
export const NeedTable: MessageTable = {
  typeName: "blit.v1.Need",
  fields: [
    { no: 1, name: "id", kind: "uint32" },
    { no: 2, name: "path", kind: "string" },
    { no: 3, name: "offset", kind: "uint64" },
    { no: 4, name: "basis", kind: "bytes" },
    { no: 5, name: "resume", kind: "bool" },
  ],
};

/** `blit.v1.NeedBatch`. */
export const NeedBatchTable: MessageTable = {
  typeName: "blit.v1.NeedBatch",
  fields: [
    { no: 1, name: "needs", kind: "message", message: () => NeedTable, repeated: true },
  ],
};

/** `blit.v1.NeedEnd`. */
export const NeedEndTable: MessageTable = {
  typeName: "blit.v1.NeedEnd",
  fields: [
    { no: 1, name: "totalNeeds", kind: "uint64" },
    { no: 2, name: "totalBytes", kind: "uint64" },
  ],
};

/** `blit.v1.Open`. */
export const OpenTable: MessageTable = {
  typeName: "blit.v1.Open",
  fields: [
    { no: 1, name: "role", kind: "enum" },
    { no: 2, name: "module", kind: "string" },
    { no: 3, name: "path", kind: "string" },
    { no: 4, name: "operation", kind: "enum" },
    { no: 5, name: "compare", kind: "enum" },
    { no: 6, name: "ignoreExisting", kind: "bool" },
    { no: 7, name: "dryRun", kind: "bool" },
    { no: 8, name: "includes", kind: "string", repeated: true },
    { no: 9, name: "excludes", kind: "string", repeated: true },
    { no: 10, name: "forceGrpcData", kind: "bool" },
    { no: 14, name: "dataStreams", kind: "uint32" },
    { no: 16, name: "filterRules", kind: "string", repeated: true },
    { no: 17, name: "maxDelete", kind: "uint64", optional: true },
    { no: 18, name: "user", kind: "string" },
    { no: 19, name: "publicKey", kind: "bytes" },
    { no: 20, name: "signature", kind: "bytes" },
    { no: 21, name: "wholeFile", kind: "bool" },
    { no: 22, name: "noResume", kind: "bool" },
    { no: 23, name: "update", kind: "bool" },
    { no: 24, name: "minSize", kind: "uint64", optional: true },
    { no: 25, name: "maxSize", kind: "uint64", optional: true },
    { no: 26, name: "deleteExcluded", kind: "bool" },
    { no: 27, name: "reportEvents", kind: "bool" },
    { no: 28, name: "oneFileSystem", kind: "bool" },
    { no: 29, name: "backup", kind: "bool" },
    { no: 30, name: "backupDir", kind: "string" },
    { no: 31, name: "backupSuffix", kind: "string" },
    { no: 32, name: "keepOwner", kind: "bool" },
    { no: 33, name: "hardLinks", kind: "bool" },
    { no: 34, name: "morePaths", kind: "string", repeated: true },
  ],
};

/** `blit.v1.Refuse`. */
export const RefuseTable: MessageTable = {
  typeName: "blit.v1.Refuse",
  fields: [
    { no: 1, name: "code", kind: "enum" },
    { no: 2, name: "message", kind: "string" },
    { no: 3, name: "reason", kind: "string" },
    { no: 4, name: "subject", kind: "string" },
  ],
};

/** `blit.v1.ServerFrame`. */
export const ServerFrameTable: MessageTable = {
  typeName: "blit.v1.ServerFrame",
  fields: [
    frameCase(1, "accept", () => AcceptTable),
    frameCase(2, "refuse", () => RefuseTable),
    ...SHARED_CASES,
    frameCase(20, "challenge", () => ChallengeTable),
    EVENT_CASE,
  ],
};

/** `blit.v1.SourceRoot`. */
export const SourceRootTable: MessageTable = {
  typeName: "blit.v1.SourceRoot",
  fields: [
    { no: 1, name: "entry", kind: "message", message: () => ManifestEntryTable },
    { no: 2, name: "name", kind: "string" },
    { no: 3, name: "contentsOnly", kind: "bool" },
    { no: 4, name: "merged", kind: "bool" },
  ],
};

/** `blit.v1.Summary`. */
export const SummaryTable: MessageTable = {
  typeName: "blit.v1.Summary",
  fields: [
    { no: 1, name: "filesExamined", kind: "uint64" },
    { no: 2, name: "filesTransferred", kind: "uint64" },
    { no: 3, name: "bytesTransferred", kind: "uint64" },
    { no: 4, name: "entriesDeleted", kind: "uint64" },
    { no: 5, name: "sourcesRemoved", kind: "uint64" },
    { no: 6, name: "filesFailed", kind: "uint64" },
    { no: 7, name: "failures", kind: "message", message: () => FailureTable, repeated: true },
    { no: 8, name: "failuresTruncated", kind: "bool" },
    { no: 9, name: "deletionsSkippedReason", kind: "string", optional: true },
    { no: 10, name: "durationMs", kind: "uint64" },
  ],
};

/**
 * The codec of the frames a client sends.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { CLIENT_FRAME_CODEC } from "./frame_tables.ts";
 * const bytes = CLIENT_FRAME_CODEC.encode({ frame: { case: "hello", value: { protocolVersion: 6 } } });
 * const frame = CLIENT_FRAME_CODEC.decode(bytes).frame;
 * strictEqual(frame.case === "hello" && frame.value.protocolVersion, 6);
 * ```
 */
export const CLIENT_FRAME_CODEC: MessageCodec<ClientFrame> = codecOf<ClientFrame>(ClientFrameTable);

/**
 * The codec of the frames a daemon sends.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { SERVER_FRAME_CODEC } from "./frame_tables.ts";
 * const bytes = SERVER_FRAME_CODEC.encode({ frame: { case: "keepalive", value: {} } });
 * strictEqual(SERVER_FRAME_CODEC.decode(bytes).frame.case, "keepalive");
 * ```
 */
export const SERVER_FRAME_CODEC: MessageCodec<ServerFrame> = codecOf<ServerFrame>(ServerFrameTable);
