/**
 * Issue #11, row 4: connections to the data port that never present a token must not starve
 * other sessions. The review's reproduction: 128 silent connections made every push fail with
 * `Broken pipe` (3 of 3), because the listener had one global pool of 128 handshake slots with
 * a 10 s token deadline and closed every connection beyond it without a word (the client only
 * learnt when its first record failed).
 *
 * Here 200 silent connections are opened and held; two real pushes and a pull must then succeed
 * byte for byte (the daemon's handshake slots make room, and a connection the daemon does not
 * take is refused before the client sends anything, so it can fall back). Then:
 *
 * - with TLS (the default), once the silent clients leave, the server's descriptors come back to
 *   the baseline (the daemon cannot close a Deno TLS connection that never started its
 *   handshake: see `DataPlaneListener.listen`);
 * - without TLS, the daemon itself closes every silent connection within
 *   {@linkcode CLOSE_WITHIN_MS} (the token deadline is 3 s).
 *
 * Memory must come back to the baseline (+96 MiB) either way.
 *
 * @module
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { readTree } from "../_helpers.ts";
import {
  assertRecovered,
  assertServesPush,
  runBlitWithin,
  type Target,
  withTarget,
} from "./_serving.ts";
import { closedWithin, openPush, openSilent } from "./_sessions.ts";
import { fdCount } from "./_process.ts";

/** Silent connections held open (more than the old 128 slots). */
const SILENT = 200;

/** How soon a daemon without TLS must close a connection that sent no token. */
const CLOSE_WITHIN_MS = 6_000;

/** The data port a push session is granted. */
async function dataPortOf(target: Target): Promise<number> {
  const probe = await openPush(target.daemon.address, "probe", false, target.clientArgs);
  const port = probe.accept.dataPort;
  probe.call.cancel();
  probe.client.close();
  ok(port > 0, "the daemon granted a data plane");
  return port;
}

/**
 * Holds {@linkcode SILENT} silent connections while two pushes and a pull run; returns how many
 * of them the daemon closed within {@linkcode CLOSE_WITHIN_MS}, and closes the rest.
 */
async function serveDespiteSilence(target: Target, tag: string): Promise<number> {
  const silent = await openSilent(await dataPortOf(target), SILENT);
  try {
    const started = performance.now();
    const waits = silent.map((conn) => closedWithin(conn, CLOSE_WITHIN_MS));
    for (let i = 1; i <= 2; i++) {
      await assertServesPush(target, `${tag}: push ${i} of 2 with ${SILENT} silent connections`);
    }
    const pull = await runBlitWithin(
      ["copy", `${target.daemon.address}:/mod/`, `${target.dir}/pulled`, ...target.clientArgs],
      60_000,
    );
    equal(pull.code, 0, `${tag}: the pull failed (exit ${pull.code}): ${pull.stderr}`);
    deepStrictEqual(
      await readTree(`${target.dir}/pulled`),
      await readTree(`${target.dir}/mod`),
      `${tag}: the pulled tree differs`,
    );
    const served = performance.now() - started;
    const closedAfter = await Promise.all(waits);
    const closed = closedAfter.filter((w) => w !== null) as number[];
    console.log(
      `${tag}: 2 pushes and a pull took ${Math.round(served)} ms with ${SILENT} silent ` +
        `connections; the daemon closed ${closed.length} of them within ${CLOSE_WITHIN_MS} ms` +
        (closed.length > 0 ? ` (the last after ${Math.round(Math.max(...closed))} ms)` : "") +
        `; server fds ${fdCount(target.server)} (baseline ${target.baselineFds})`,
    );
    return closed.length;
  } finally {
    for (const conn of silent) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }
}

Deno.test({
  name: "hostile: 200 silent data-port connections starve no push or pull (TLS)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTarget(async (target) => {
      await serveDespiteSilence(target, "tls");
      await assertRecovered(target, `tls: after ${SILENT} silent data connections left`);
    });
  },
});

Deno.test({
  name: "hostile: 200 silent data-port connections are closed by the daemon (no TLS)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTarget(async (target) => {
      const closed = await serveDespiteSilence(target, "plain");
      equal(
        closed,
        SILENT,
        `${
          SILENT - closed
        } of ${SILENT} silent connections were still open ${CLOSE_WITHIN_MS} ms ` +
          "after they were made",
      );
      await assertRecovered(target, `plain: after ${SILENT} silent data connections`);
    }, { extra: ["tls = false"], clientArgs: ["--no-tls"] });
  },
});
