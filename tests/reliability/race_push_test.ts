/**
 * Issue #11, "local-user races are wide": pushes into a module while a local user exchanges the
 * directory pushed into with a link to the outside (`renameat2(RENAME_EXCHANGE)` in a tight
 * loop). Nothing may ever be written outside, under a final name or as a temporary. With
 * `confinement = "namespace"` (and a link to a directory not exported) nothing may; with `none`
 * the checks right before each create and rename only narrow the window, and the test reports
 * what got through. A second test exchanges once, while a push of many files runs: every later
 * write must be refused, none may land outside.
 *
 * `BLIT_RACE_ATTEMPTS` overrides the number of pushes (default 200).
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { copy } from "../../mod.ts";
import { isTemporaryName } from "../../core/tree.ts";
import { withTempDir } from "../_helpers.ts";
import {
  attempts,
  buildExchanger,
  filesUnder,
  MARKER,
  outsideOf,
  raceDaemon,
  raceName,
  type RaceSetting,
  settingLabel,
  SETTINGS,
  Swapper,
} from "./_race.ts";

const ATTEMPTS = Number(Deno.env.get("BLIT_RACE_ATTEMPTS") ?? 200);
const FILES = 8;
const SUB_FILES = 4;

/** The module's `d` and the outside, both with a `sub` directory and one file of their own. */
async function plant(dir: string, setting: RaceSetting): Promise<string> {
  const outside = outsideOf(dir, setting);
  await Deno.mkdir(`${dir}/other`, { recursive: true });
  for (const [root, text] of [[`${dir}/mod/d`, "inside"], [outside, MARKER]] as const) {
    await Deno.mkdir(`${root}/sub`, { recursive: true });
    await Deno.writeTextFile(`${root}/own.txt`, text);
  }
  await Deno.symlink(outside, `${dir}/mod/L`);
  return outside;
}

/** A source of `files` files (and `subFiles` in `sub/`), named after `tag`. */
async function source(root: string, tag: string, files: number, subFiles: number): Promise<void> {
  await Deno.mkdir(`${root}/sub`, { recursive: true });
  for (let k = 0; k < files; k++) {
    await Deno.writeTextFile(`${root}/${tag}-${k}.txt`, `${tag} ${k}`);
  }
  for (let k = 0; k < subFiles; k++) {
    await Deno.writeTextFile(`${root}/sub/${tag}-s${k}.txt`, `${tag} sub ${k}`);
  }
}

/** What the pushes left outside: files under a final name, and temporaries. */
function writtenOutside(outside: string): { finals: number; temporaries: number } {
  let finals = 0;
  let temporaries = 0;
  for (const [path] of filesUnder(outside)) {
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (isTemporaryName(name)) temporaries++;
    else if (name !== "own.txt") finals++;
  }
  return { finals, temporaries };
}

for (const setting of SETTINGS) {
  Deno.test({
    name: raceName(`${ATTEMPTS} pushes into d while d and a link are exchanged`, setting),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      await withTempDir(async (dir) => {
        const outside = await plant(dir, setting);
        for (let i = 0; i < ATTEMPTS; i++) {
          await source(`${dir}/src/${i}`, `p${i}`, FILES, SUB_FILES);
        }
        const exchanger = await buildExchanger(dir);
        const daemon = await raceDaemon(dir, setting);
        const swapper = new Swapper(exchanger, `${dir}/mod/d`, `${dir}/mod/L`, setting.pauseUs);
        const started = performance.now();
        let failed = 0;
        let written = 0;
        try {
          swapper.start();
          failed = await attempts(ATTEMPTS, 2, async (i) => {
            const summary = await copy(`${dir}/src/${i}/`, `${daemon.address}:/mod/d/`);
            written += summary.files_transferred;
          });
        } finally {
          await swapper.stop();
          await daemon.stop();
        }
        const { finals, temporaries } = writtenOutside(outside);
        console.log(
          `${settingLabel(setting)}: ${ATTEMPTS} pushes (${failed} refused or ` +
            `failed, ${written} files written) in ` +
            `${((performance.now() - started) / 1000).toFixed(1)} s; written outside: ` +
            `${finals} under final names, ${temporaries} temporaries`,
        );
        equal(Deno.readTextFileSync(`${outside}/own.txt`), MARKER);
        if (setting.confinement === "namespace" && setting.outside === "host") {
          equal(finals + temporaries, 0, "nothing is ever written outside the namespace");
        } else {
          // Without the namespace the checks and the rename are not atomic: a tight exchange
          // loop gets a few files out under final names (measured over 18 runs of the
          // none/export/tight case: 0-4, mean ~1; before the checks 142-289 and temporaries).
          // The bound catches a return to that, not the statistical tail.
          ok(finals <= 6 && temporaries <= 8, `${finals} finals, ${temporaries} temporaries`);
        }
      });
    },
  });
}

Deno.test({
  name: "race: one exchange while a push of 1,000 files runs writes nothing outside",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const setting: RaceSetting = { confinement: "none", outside: "export", pauseUs: 0 };
    await withTempDir(async (dir) => {
      const outside = await plant(dir, setting);
      await source(`${dir}/src`, "big", 900, 100);
      const exchanger = await buildExchanger(dir);
      const daemon = await raceDaemon(dir, setting);
      const swapper = new Swapper(exchanger, `${dir}/mod/d`, `${dir}/mod/L`, setting.pauseUs);
      let exchangedAt = -1;
      try {
        const push = copy(`${dir}/src/`, `${daemon.address}:/mod/d/`);
        // Once the first files are in place, the directory is exchanged, once.
        while (exchangedAt < 0) {
          const landed = filesUnder(`${dir}/mod/d`).size - 1;
          if (landed >= 50) {
            await swapper.once();
            exchangedAt = landed;
          } else await new Promise((resolve) => setTimeout(resolve, 1));
        }
        const summary = await push.catch((error) => error);
        console.log(
          `one exchange after ${exchangedAt} files: the push ended with ` +
            `${
              summary instanceof Error
                ? summary.message
                : `${summary.files_transferred} written, ${summary.files_failed} failed`
            }`,
        );
      } finally {
        await daemon.stop();
        if ((await Deno.lstat(`${dir}/mod/d`)).isSymlink) await swapper.once();
      }
      const { finals, temporaries } = writtenOutside(outside);
      equal(finals, 0, "no file under a final name outside");
      equal(temporaries, 0, "no temporary outside");
    });
  },
});
