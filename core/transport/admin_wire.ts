/**
 * The protobuf edge of the admin RPCs: the one place where the plain shapes of `core/admin/`
 * become wire messages (the daemon's answers, the client's requests) and back (the client's
 * answers, the daemon's requests). Sizes travel as `bigint`, times as nanoseconds.
 *
 * @module
 */

import { create } from "@bufbuild/protobuf";
import {
  type CompletePathResponse,
  CompletePathResponseSchema,
  type DirEntry,
  DirEntrySchema,
  type DiskFreeResponse,
  DiskFreeResponseSchema,
  type DiskUsageEntry,
  DiskUsageEntrySchema,
  EntryKind,
  FindKind,
  type FindResult,
  FindResultSchema,
  type ListDirResponse,
  ListDirResponseSchema,
  type RemoveResponse,
  RemoveResponseSchema,
} from "../../proto/gen/blit_pb.ts";
import type {
  EntryType,
  FindScope,
  FoundEntry,
  ListedEntry,
  Listing,
  SpaceReport,
  UsageEntry,
} from "../admin/types.ts";

/** Trailing metadata key set to `"true"` when a streamed answer was cut at a limit. */
export const TRUNCATED_TRAILER = "blit-truncated";

/** Trailing metadata key holding the count of entries a walk could not read. */
export const ERRORS_TRAILER = "blit-errors";

// ---------------------------------------------------------------------------------------------
// Plain → wire

/**
 * Maps a user-facing entry type to the wire kind.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { EntryKind } from "../../proto/gen/blit_pb.ts";
 * import { entryTypeToWire } from "./admin_wire.ts";
 * strictEqual(entryTypeToWire("dir"), EntryKind.DIR);
 * strictEqual(entryTypeToWire("other"), EntryKind.UNSPECIFIED);
 * ```
 *
 * @param type The type.
 * @returns The wire kind (`UNSPECIFIED` for `other`).
 */
export function entryTypeToWire(type: EntryType): EntryKind {
  switch (type) {
    case "file":
      return EntryKind.FILE;
    case "dir":
      return EntryKind.DIR;
    case "symlink":
      return EntryKind.SYMLINK;
    default:
      return EntryKind.UNSPECIFIED;
  }
}

/** Nanoseconds since the epoch of an ISO 8601 time (milliseconds precision). */
function nsFromIso(iso: string): bigint {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? BigInt(ms) * 1_000_000n : 0n;
}

/**
 * Encodes a listing as the `ListDir` answer.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { listingToWire } from "./admin_wire.ts";
 * const entry = {
 *   name: "a",
 *   type: "file" as const,
 *   size: 2,
 *   mtime: "1970-01-01T00:00:01.000Z",
 *   mode: 0o644,
 * };
 * const wire = listingToWire({ entries: [entry], truncated: false });
 * strictEqual(wire.entries[0]?.mtimeNs, 1_000_000_000n);
 * ```
 *
 * @param listing The listing.
 * @returns The wire answer.
 */
export function listingToWire(listing: Listing): ListDirResponse {
  return create(ListDirResponseSchema, {
    entries: listing.entries.map((entry) =>
      create(DirEntrySchema, {
        name: entry.name,
        kind: entryTypeToWire(entry.type),
        size: BigInt(entry.size),
        mtimeNs: nsFromIso(entry.mtime),
        mode: entry.mode,
        linkTarget: entry.link_target ?? "",
      })
    ),
    truncated: listing.truncated,
  });
}

/**
 * Encodes one find match.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { foundEntryToWire } from "./admin_wire.ts";
 * const entry = { path: "a/b", type: "dir" as const, size: 0, mtime: "1970-01-01T00:00:00.000Z" };
 * const wire = foundEntryToWire(entry);
 * strictEqual(wire.path, "a/b");
 * ```
 *
 * @param entry The match.
 * @returns The wire result.
 */
export function foundEntryToWire(entry: FoundEntry): FindResult {
  return create(FindResultSchema, {
    path: entry.path,
    kind: entryTypeToWire(entry.type),
    size: BigInt(entry.size),
    mtimeNs: nsFromIso(entry.mtime),
  });
}

/**
 * Encodes the totals of one directory.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { usageEntryToWire } from "./admin_wire.ts";
 * const wire = usageEntryToWire({ path: "", depth: 0, bytes: 5, files: 1, dirs: 0, errors: 0 });
 * strictEqual(wire.bytes, 5n);
 * ```
 *
 * @param entry The totals.
 * @returns The wire entry.
 */
export function usageEntryToWire(entry: UsageEntry): DiskUsageEntry {
  return create(DiskUsageEntrySchema, {
    path: entry.path,
    depth: entry.depth,
    bytes: BigInt(entry.bytes),
    files: BigInt(entry.files),
    dirs: BigInt(entry.dirs),
    errors: BigInt(entry.errors),
  });
}

/**
 * Encodes a filesystem's capacity as the `DiskFree` answer.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { spaceToWire } from "./admin_wire.ts";
 * strictEqual(spaceToWire({ total_bytes: 9, used_bytes: 4, free_bytes: 5 }).freeBytes, 5n);
 * ```
 *
 * @param space The capacity.
 * @returns The wire answer.
 */
export function spaceToWire(space: SpaceReport): DiskFreeResponse {
  return create(DiskFreeResponseSchema, {
    totalBytes: BigInt(space.total_bytes),
    usedBytes: BigInt(space.used_bytes),
    freeBytes: BigInt(space.free_bytes),
  });
}

/**
 * Encodes the count of removed entries as the `Remove` answer.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { removedToWire } from "./admin_wire.ts";
 * strictEqual(removedToWire(4).removed, 4n);
 * ```
 *
 * @param removed Entries removed (or that would be).
 * @returns The wire answer.
 */
export function removedToWire(removed: number): RemoveResponse {
  return create(RemoveResponseSchema, { removed: BigInt(removed) });
}

/**
 * Encodes completion candidates as the `CompletePath` answer.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { candidatesToWire } from "./admin_wire.ts";
 * deepStrictEqual(candidatesToWire(["m/a/"]).candidates, ["m/a/"]);
 * ```
 *
 * @param candidates The candidates.
 * @returns The wire answer.
 */
export function candidatesToWire(candidates: string[]): CompletePathResponse {
  return create(CompletePathResponseSchema, { candidates });
}

/**
 * Maps the kinds a find reports to the wire.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { FindKind } from "../../proto/gen/blit_pb.ts";
 * import { findScopeToWire } from "./admin_wire.ts";
 * strictEqual(findScopeToWire("files"), FindKind.FILES);
 * strictEqual(findScopeToWire(undefined), FindKind.UNSPECIFIED);
 * ```
 *
 * @param scope The kinds (absent: all).
 * @returns The wire kind.
 */
export function findScopeToWire(scope: FindScope | undefined): FindKind {
  return scope === "files"
    ? FindKind.FILES
    : scope === "dirs"
    ? FindKind.DIRS
    : FindKind.UNSPECIFIED;
}

// ---------------------------------------------------------------------------------------------
// Wire → plain

/**
 * Maps the wire kinds of a find request.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { FindKind } from "../../proto/gen/blit_pb.ts";
 * import { findScopeFromWire } from "./admin_wire.ts";
 * strictEqual(findScopeFromWire(FindKind.DIRS), "dirs");
 * strictEqual(findScopeFromWire(FindKind.UNSPECIFIED), "all");
 * ```
 *
 * @param kind The wire kind.
 * @returns `all`, `files` or `dirs`.
 */
export function findScopeFromWire(kind: FindKind): FindScope {
  return kind === FindKind.FILES ? "files" : kind === FindKind.DIRS ? "dirs" : "all";
}

/**
 * Maps a wire entry kind to the user-facing type.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { EntryKind } from "../../proto/gen/blit_pb.ts";
 * import { entryTypeFromWire } from "./admin_wire.ts";
 * strictEqual(entryTypeFromWire(EntryKind.SYMLINK), "symlink");
 * strictEqual(entryTypeFromWire(EntryKind.UNSPECIFIED), "other");
 * ```
 *
 * @param kind The wire kind.
 * @returns `file`, `dir`, `symlink` or `other`.
 */
export function entryTypeFromWire(kind: EntryKind): EntryType {
  switch (kind) {
    case EntryKind.FILE:
      return "file";
    case EntryKind.DIR:
      return "dir";
    case EntryKind.SYMLINK:
      return "symlink";
    default:
      return "other";
  }
}

/** ISO 8601 time of nanoseconds since the epoch. */
function isoFromNs(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

/**
 * Converts a wire `DirEntry` to a {@linkcode ListedEntry}.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { create } from "@bufbuild/protobuf";
 * import { DirEntrySchema, EntryKind } from "../../proto/gen/blit_pb.ts";
 * import { listedEntryFromWire } from "./admin_wire.ts";
 * const wire = create(DirEntrySchema, { name: "l", kind: EntryKind.SYMLINK, linkTarget: "x" });
 * strictEqual(listedEntryFromWire(wire).link_target, "x");
 * ```
 *
 * @param entry The wire entry.
 * @returns The plain entry.
 */
export function listedEntryFromWire(entry: DirEntry): ListedEntry {
  const out: ListedEntry = {
    name: entry.name,
    type: entryTypeFromWire(entry.kind),
    size: Number(entry.size),
    mtime: isoFromNs(entry.mtimeNs),
    mode: entry.mode,
  };
  if (entry.kind === EntryKind.SYMLINK) out.link_target = entry.linkTarget;
  return out;
}

/**
 * Converts a `ListDir` answer to a {@linkcode Listing}.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { listingFromWire, listingToWire } from "./admin_wire.ts";
 * const listing = { entries: [], truncated: true };
 * deepStrictEqual(listingFromWire(listingToWire(listing)), listing);
 * ```
 *
 * @param response The wire answer.
 * @returns The listing.
 */
export function listingFromWire(response: ListDirResponse): Listing {
  return { entries: response.entries.map(listedEntryFromWire), truncated: response.truncated };
}

/**
 * Converts a wire `FindResult` to a {@linkcode FoundEntry}.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { foundEntryFromWire, foundEntryToWire } from "./admin_wire.ts";
 * const entry = { path: "a", type: "file" as const, size: 3, mtime: "2024-01-02T03:04:05.006Z" };
 * deepStrictEqual(foundEntryFromWire(foundEntryToWire(entry)), entry);
 * ```
 *
 * @param result The wire result.
 * @returns The plain entry.
 */
export function foundEntryFromWire(result: FindResult): FoundEntry {
  return {
    path: result.path,
    type: entryTypeFromWire(result.kind),
    size: Number(result.size),
    mtime: isoFromNs(result.mtimeNs),
  };
}

/**
 * Converts a wire `DiskUsageEntry` to a {@linkcode UsageEntry}.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { usageEntryFromWire, usageEntryToWire } from "./admin_wire.ts";
 * const entry = { path: "a", depth: 1, bytes: 10, files: 2, dirs: 1, errors: 0 };
 * deepStrictEqual(usageEntryFromWire(usageEntryToWire(entry)), entry);
 * ```
 *
 * @param entry The wire entry.
 * @returns The plain entry.
 */
export function usageEntryFromWire(entry: DiskUsageEntry): UsageEntry {
  return {
    path: entry.path,
    depth: entry.depth,
    bytes: Number(entry.bytes),
    files: Number(entry.files),
    dirs: Number(entry.dirs),
    errors: Number(entry.errors),
  };
}

/**
 * Converts a `DiskFree` answer to a {@linkcode SpaceReport}.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { spaceFromWire, spaceToWire } from "./admin_wire.ts";
 * const space = { total_bytes: 9, used_bytes: 4, free_bytes: 5 };
 * deepStrictEqual(spaceFromWire(spaceToWire(space)), space);
 * ```
 *
 * @param response The wire answer.
 * @returns Total, used and free bytes.
 */
export function spaceFromWire(response: DiskFreeResponse): SpaceReport {
  return {
    total_bytes: Number(response.totalBytes),
    used_bytes: Number(response.usedBytes),
    free_bytes: Number(response.freeBytes),
  };
}

/** Metadata keys of an admin call's proof (see core/auth.ts): the call is signed over a nonce
 * from the `Challenge` RPC. */
export const PROOF_METADATA = {
  user: "blit-user",
  publicKey: "blit-key-bin",
  nonce: "blit-nonce-bin",
  signature: "blit-signature-bin",
} as const;
