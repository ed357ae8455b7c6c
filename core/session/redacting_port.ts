/**
 * The daemon's side of what a client reads in a session: every human text of the frames it
 * sends (failures, abort messages and subjects, skipped-deletion reasons, file reports, digest
 * errors) rewritten so that it names no absolute path of the daemon. The manifest (paths, link
 * targets) is data and travels unchanged.
 *
 * @module
 */

import type { HideRoots } from "../hide_roots.ts";
import type { Frame, FramePort } from "./frames.ts";

/**
 * The frame with its human texts rewritten by `hide`; a frame without such texts is returned
 * as it is.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { hideRoots } from "../hide_roots.ts";
 * import { redactFrame } from "./redacting_port.ts";
 * const hide = hideRoots(["/srv/m"]);
 * deepStrictEqual(
 *   redactFrame({ type: "dataEnd", failures: [{ path: "a", message: "read '/srv/m/a'" }] }, hide),
 *   { type: "dataEnd", failures: [{ path: "a", message: "read 'a'" }] },
 * );
 * ```
 *
 * @param frame A frame about to be sent.
 * @param hide Rewrites one text.
 * @returns The frame to send.
 */
export function redactFrame(frame: Frame, hide: HideRoots): Frame {
  switch (frame.type) {
    case "abort":
      return {
        type: "abort",
        abort: {
          code: frame.abort.code,
          message: hide(frame.abort.message),
          subject: hide(frame.abort.subject),
        },
      };
    case "summary": {
      const { summary } = frame;
      return {
        type: "summary",
        summary: {
          ...summary,
          failures: summary.failures.map((f) => ({ path: hide(f.path), message: hide(f.message) })),
          deletionsSkipped: summary.deletionsSkipped === null
            ? null
            : hide(summary.deletionsSkipped),
        },
      };
    }
    case "dataEnd":
      return {
        type: "dataEnd",
        failures: frame.failures.map((f) => ({ path: hide(f.path), message: hide(f.message) })),
      };
    case "filesDone":
      return {
        type: "filesDone",
        files: frame.files.map((f) => f.message === "" ? f : { ...f, message: hide(f.message) }),
      };
    case "checksums":
      return {
        type: "checksums",
        digests: frame.digests.map((d) => d.error === "" ? d : { ...d, error: hide(d.error) }),
      };
    default:
      return frame;
  }
}

/**
 * A port that sends through `port` with every frame's human texts rewritten by `hide` (see
 * {@linkcode redactFrame}); receiving, back-pressure and the idle deadline are `port`'s.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { hideRoots } from "../hide_roots.ts";
 * import { localPortPair } from "./frames.ts";
 * import { redactingPort } from "./redacting_port.ts";
 * const [daemon, client] = localPortPair();
 * const port = redactingPort(daemon, hideRoots(["/srv/m"]));
 * await port.send({ type: "abort", abort: { code: "io", message: "open '/srv/m/x'", subject: "" } });
 * deepStrictEqual(await client.next(), {
 *   type: "abort",
 *   abort: { code: "io", message: "open 'x'", subject: "" },
 * });
 * ```
 *
 * @param port The port to the peer.
 * @param hide Rewrites one text.
 * @returns The port the roles use.
 */
export function redactingPort(port: FramePort, hide: HideRoots): FramePort {
  return {
    get busy(): number {
      return port.busy;
    },
    set busy(value: number) {
      port.busy = value;
    },
    get batchEntries(): number {
      return port.batchEntries;
    },
    send: (frame) => port.send(redactFrame(frame, hide)),
    next: (timeoutMs) => port.next(timeoutMs),
    close: () => port.close(),
  };
}
