/**
 * Worker entry of {@linkcode DestinationScanner}: lists the destination directories it is sent,
 * one answer per request, in order. Not part of the public API.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { type DirListing, listDirectory } from "./dest_listing.ts";

/** A request: the absolute directory to list. */
export interface ScanRequest {
  /** Absolute path. */
  abs: string;
}

/** An answer: the listing, or why it failed. */
export type ScanAnswer = { listing: DirListing } | { error: string };

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<ScanRequest>) => void) | null;
  postMessage(message: ScanAnswer): void;
};

scope.onmessage = (event: MessageEvent<ScanRequest>) => {
  try {
    scope.postMessage({ listing: listDirectory(event.data.abs) });
  } catch (error) {
    scope.postMessage({ error: describeError(error) });
  }
};
