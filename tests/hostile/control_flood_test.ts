/**
 * Issue #11, row 1: one client must not grow the daemon's memory without bound. The review's
 * reproduction: a push trickles its data plane (so the daemon waits on it), sends `dataEnd`,
 * then 150 control frames of 15 MiB: the server went from 95 MB to 2.45 GB, because every frame
 * was queued as it arrived and the stream was never paused.
 *
 * Scaled down: 24 frames of 15 MiB (360 MiB) within 12 s, twice (a second round must not grow
 * the daemon further). What must hold: the daemon stops reading (the client's writes block) long
 * before that: it takes at most {@linkcode FRAMES_TAKEN_MAX} frames and its RSS grows by at most
 * {@linkcode PEAK_GROWTH_MAX} from where each flood began;
 * when the client leaves the call — while it still trickles its data connection — the daemon
 * ends the session (its audit line says why) within 10 s; afterwards it serves a real push, its
 * descriptors back to the baseline (+4) and its RSS within the baseline + `PEAK_GROWTH_MAX`
 * (V8 and the allocator keep some of the freed memory for the next session).
 *
 * @module
 */

import { ok } from "node:assert/strict";
import { INITIAL_WINDOW_BYTES } from "../../core/transport/frame_codec.ts";
import { encodeRecordHeader, FILE_STATUS } from "../../core/transport/records.ts";
import { MAX_QUEUED_BYTES } from "../../core/transport/stream_port.ts";
import { assertRecovered, mib, type Target, withTarget } from "./_serving.ts";
import { announceFiles, dialData, openPush } from "./_sessions.ts";
import { rssBytes, settle } from "./_process.ts";

/** One flood frame's payload. */
const FRAME_BYTES = 15 * 1024 * 1024;
/** Flood frames the client tries to send. */
const FRAMES = 24;
/** How long the client keeps trying. */
const FLOOD_MS = 12_000;
/**
 * Most frames the daemon may take before the client's writes block: the session's queue (overshot
 * by one frame), the stream's flow-control window, and one frame being assembled. This is the
 * bound itself, independent of when the daemon's garbage collector runs.
 */
const FRAMES_TAKEN_MAX = Math.ceil(MAX_QUEUED_BYTES / FRAME_BYTES) + 1 +
  Math.ceil(INITIAL_WINDOW_BYTES / FRAME_BYTES) + 1;
/**
 * Most the server's RSS may grow during one flood, from its RSS when that flood starts (the
 * garbage of an earlier round is V8's to collect when it likes, so each round is measured from
 * where it begins; {@linkcode assertRecovered} checks the end against the first baseline): the per-session queue (32 MiB, overshot by one
 * frame), one frame in the stream's buffer, the control stream's flow-control window (20 MiB),
 * one frame being assembled, and the allocator's slack.
 */
const PEAK_GROWTH_MAX = 160 * 1024 * 1024;

/** What one flood did. */
interface FloodResult {
  /** Flood frames the client managed to hand to its stream. */
  sent: number;
  /** The server's RSS when the flood started. */
  start: number;
  /** The server's highest RSS during the flood. */
  peak: number;
  /** The daemon's audit line for the session, once it ended (`null`: it never did). */
  ended: string | null;
}

/**
 * Opens a push into `mod/<name>/`, trickles its data plane, sends `dataEnd`, then floods 15 MiB
 * control frames for up to {@linkcode FLOOD_MS}; then leaves (cancels the call, closes the data
 * connection) and waits for the daemon to end the session.
 */
async function flood(target: Target, name: string): Promise<FloodResult> {
  const push = await openPush(target.daemon.address, name);
  const stopTrickle = new AbortController();
  const start = rssBytes(target.server);
  let peak = start;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(target.server));
    } catch { /* gone: asserted by the caller */ }
  }, 50);
  let sent = 0;
  let trickling: Promise<void> = Promise.resolve();
  try {
    const needs = await announceFiles(push.port, [1024 * 1024]);
    const need = needs[0];
    ok(need, "the daemon asked for the file");
    const conn = await dialData(target.daemon.address, push.accept);
    await conn.write(encodeRecordHeader({ type: "file", id: need.id, size: need.size }));
    // One byte every 300 ms: the daemon keeps waiting for the payload, never idle.
    trickling = (async () => {
      try {
        while (!stopTrickle.signal.aborted) {
          await conn.write(new Uint8Array([FILE_STATUS.ok]));
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
      } catch { /* closed by the daemon */ }
      try {
        conn.close();
      } catch { /* closed */ }
    })();
    await push.port.send({ type: "dataEnd", failures: [] });
    const data = new Uint8Array(FRAME_BYTES).fill(7);
    const deadline = performance.now() + FLOOD_MS;
    for (let i = 0; i < FRAMES && performance.now() < deadline; i++) {
      const wrote = await Promise.race([
        push.port.sendRaw({
          case: "dataChunk",
          value: { fileId: need.id, offset: 0n, data, last: false },
        }).then(() => true, () => false),
        new Promise<false>((resolve) =>
          setTimeout(() => resolve(false), Math.max(0, deadline - performance.now()))
        ),
      ]);
      if (!wrote) break;
      sent++;
    }
    // Whatever the daemon buffered is in its memory now.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // The client leaves the call but keeps trickling its data connection: the daemon must end
    // the session all the same.
    push.call.cancel();
    push.client.close();
    const line = new RegExp(`^.* push mod:/${name}/ .*$`, "m");
    const ended = await settle(
      () => line.exec(target.daemon.log())?.[0] ?? null,
      (l) => l !== null,
      10_000,
    );
    return { sent, start, peak, ended };
  } finally {
    clearInterval(sampler);
    stopTrickle.abort();
    push.call.cancel();
    push.client.close();
    await trickling;
  }
}

Deno.test({
  name: "hostile: a control-frame flood behind a trickled data plane is bounded",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTarget(async (target) => {
      for (const round of [1, 2]) {
        const { sent, start, peak, ended } = await flood(target, `flood-${round}`);
        const growth = peak - start;
        console.log(
          `flood ${round}: ${sent} of ${FRAMES} frames of 15 MiB taken; server RSS ${
            mib(start)
          } → peak ${mib(peak)} MiB (+${mib(growth)} MiB); session ended: ${ended ?? "no"}`,
        );
        ok(
          sent <= FRAMES_TAKEN_MAX,
          `the daemon took ${sent} frames of 15 MiB during flood ${round}, more than the ` +
            `${FRAMES_TAKEN_MAX} its queue and window allow`,
        );
        ok(
          growth <= PEAK_GROWTH_MAX,
          `the server's RSS grew by ${mib(growth)} MiB during flood ${round} (${sent} frames of ` +
            `15 MiB taken), more than the ${mib(PEAK_GROWTH_MAX)} MiB allowed`,
        );
        ok(ended !== null, `the daemon never ended the flooding session ${round}`);
      }
      await assertRecovered(target, "after the floods", { rssMarginBytes: PEAK_GROWTH_MAX });
    });
  },
});
