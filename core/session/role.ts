/**
 * What both roles share: how a role runs (telling the peer why it failed), what it returns, how
 * an abort travels and how the client words it, and how consent is asked.
 *
 * @module
 */

import {
  type EndpointTexts,
  isRefusalReason,
  type RefusalReason,
  TransferRefusal,
} from "../endpoint.ts";
import { describeError, ProtocolError } from "../errors.ts";
import type { AbortInfo, ConsentRefusal, FramePort, SideSummary } from "./frames.ts";

/** A person's (or a caller's) answer to a deletion prompt. */
export type ConsentAnswer = { granted: true } | { granted: false; refusal: ConsentRefusal };

/**
 * Asks whether mirror may delete: called after planning, with the first paths and their total.
 * `signal` aborts when the question is withdrawn (the destination stopped waiting).
 */
export type ConsentAsker = (
  paths: readonly string[],
  total: number,
  signal?: AbortSignal,
) => Promise<ConsentAnswer>;

/** What the session learned, from this side. */
export interface RoleOutcome {
  /** This side's summary. */
  own: SideSummary;
  /** The peer's summary. */
  peer: SideSummary;
}

/** Thrown when the peer aborted the session; carries its reason. */
export class PeerAbortError extends Error {
  /** The peer's reason. */
  readonly abort: AbortInfo;

  /**
   * Creates the error.
   * @param abort The peer's reason.
   */
  constructor(abort: AbortInfo) {
    super(abort.message);
    this.name = "PeerAbortError";
    this.abort = abort;
  }
}

/**
 * Describes an error for an `abort` frame: a typed refusal keeps its reason.
 *
 * @param error The caught value.
 * @returns The abort frame's content.
 */
export function abortInfoOf(error: unknown): AbortInfo {
  if (error instanceof TransferRefusal) {
    return { code: error.reason, message: error.message, subject: error.detail };
  }
  if (error instanceof PeerAbortError) return error.abort;
  if (error instanceof ProtocolError) {
    return { code: "protocol", message: error.message, subject: "" };
  }
  return { code: "io", message: describeError(error), subject: "" };
}

/**
 * Turns a peer's abort into the error the caller sees: a refusal is worded again with the
 * endpoints as this side's user typed them.
 *
 * @param abort The peer's reason.
 * @param texts The endpoints as typed.
 * @returns The error to throw.
 */
export function errorOfAbort(abort: AbortInfo, texts: EndpointTexts): Error {
  if (isRefusalReason(abort.code)) {
    return new TransferRefusal(abort.code as RefusalReason, texts, abort.subject);
  }
  return new PeerAbortError(abort);
}

/**
 * Runs a role's work: on any failure the peer is told why (an `abort` frame, unless the peer
 * aborted first) before the error is thrown; the port is closed either way.
 *
 * @param port The channel to the peer.
 * @param work The role's session.
 * @param cleanup Run after the work, whatever happened.
 * @returns What the work returned.
 */
export async function runRole(
  port: FramePort,
  work: () => Promise<RoleOutcome>,
  cleanup: () => void = () => {},
): Promise<RoleOutcome> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof PeerAbortError)) {
      await port.send({ type: "abort", abort: abortInfoOf(error) }).catch(() => {});
    }
    throw error;
  } finally {
    cleanup();
    port.close();
  }
}
