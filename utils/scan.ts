/**
 * `blit-utils scan`: lists the blit daemons that answer an mDNS query (the same as
 * `blit scan`).
 *
 * @module
 */

import { describeError } from "../core/errors.ts";
import { runScanVerb } from "../cmdline/scan_verb.ts";

/**
 * Runs `blit-utils scan [--wait SECONDS] [--json]`; never throws: an error prints one line on
 * stderr and gives exit code 1.
 *
 * Requires `--allow-net=0.0.0.0:5353,224.0.0.251:5353` and `--allow-sys=networkInterfaces`.
 *
 * @param argv Arguments after `scan`.
 * @returns The exit code.
 */
export async function runScan(argv: string[]): Promise<number> {
  try {
    return await runScanVerb(argv, "blit-utils scan");
  } catch (error) {
    console.error(`blit-utils: ${describeError(error)}`);
    return 1;
  }
}
