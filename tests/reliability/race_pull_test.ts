/**
 * Issue #11, "local-user races are wide": pulls from a module while a local user exchanges the
 * pulled directory with a link to the outside (`renameat2(RENAME_EXCHANGE)` in a tight loop).
 * Every outside file holds {@linkcode MARKER}; no pulled file may ever hold it. With
 * `confinement = "namespace"` nothing may leak; with `none` the checks at open (fstat of the open
 * file against what was listed, the directory checked again around it) only narrow the window,
 * and the test reports what got through.
 *
 * `BLIT_RACE_ATTEMPTS` overrides the number of pulls (default 200).
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { copy } from "../../mod.ts";
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
const FILES = 16;
const SUB_FILES = 8;

/** The module's directory `d` and the outside directory, with the same names. */
async function plant(dir: string, setting: RaceSetting): Promise<string> {
  const outside = outsideOf(dir, setting);
  await Deno.mkdir(`${dir}/other`, { recursive: true });
  for (const [root, text] of [[`${dir}/mod/d`, "inside"], [outside, MARKER]] as const) {
    await Deno.mkdir(`${root}/sub`, { recursive: true });
    for (let i = 0; i < FILES; i++) await Deno.writeTextFile(`${root}/f${i}.txt`, `${text} ${i}`);
    for (let i = 0; i < SUB_FILES; i++) {
      await Deno.writeTextFile(`${root}/sub/g${i}.txt`, `${text} sub ${i}`);
    }
  }
  await Deno.symlink(outside, `${dir}/mod/L`);
  return outside;
}

for (const setting of SETTINGS) {
  Deno.test({
    name: raceName(`${ATTEMPTS} pulls of d while d and a link are exchanged`, setting),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      await withTempDir(async (dir) => {
        const outside = await plant(dir, setting);
        const exchanger = await buildExchanger(dir);
        const daemon = await raceDaemon(dir, setting);
        const swapper = new Swapper(exchanger, `${dir}/mod/d`, `${dir}/mod/L`, setting.pauseUs);
        const started = performance.now();
        let failed = 0;
        try {
          swapper.start();
          failed = await attempts(ATTEMPTS, 2, async (i) => {
            await copy(`${daemon.address}:/mod/d/`, `${dir}/pulls/${i}`);
          });
        } finally {
          await swapper.stop();
          await daemon.stop();
        }
        let leakedFiles = 0;
        let leakedBytes = 0;
        let pulledFiles = 0;
        const leakyPulls = new Set<number>();
        for (let i = 0; i < ATTEMPTS; i++) {
          for (const [, content] of filesUnder(`${dir}/pulls/${i}`)) {
            pulledFiles++;
            if (!content.includes(MARKER)) continue;
            leakedFiles++;
            leakedBytes += new TextEncoder().encode(content).length;
            leakyPulls.add(i);
          }
        }
        console.log(
          `${settingLabel(setting)}: ${ATTEMPTS} pulls (${failed} refused or ` +
            `failed, ${pulledFiles} files pulled) in ` +
            `${((performance.now() - started) / 1000).toFixed(1)} s; outside files read: ` +
            `${leakedFiles} (${leakedBytes} bytes) in ${leakyPulls.size} pulls`,
        );
        // The module itself is intact, and so is the outside.
        equal(filesUnder(`${dir}/mod/d`).size, FILES + SUB_FILES);
        equal(filesUnder(outside).size, FILES + SUB_FILES);
        if (setting.confinement === "namespace" && setting.outside === "host") {
          equal(leakedFiles, 0, "no outside byte is ever read inside the namespace");
        } else {
          // Far below what an unchecked pull leaked (15 of 200 pulls, 192 files).
          ok(leakyPulls.size <= ATTEMPTS / 20, `${leakyPulls.size} pulls read outside files`);
        }
      });
    },
  });
}

Deno.test({
  name: "race: one exchange while a pull of 300 files runs reads nothing outside",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const setting: RaceSetting = { confinement: "none", outside: "export", pauseUs: 0 };
    await withTempDir(async (dir) => {
      const outside = outsideOf(dir, setting);
      // Files above the shard size, so that each is opened on its own, one after the other.
      const padding = ".".repeat(96 * 1024);
      for (const [root, text] of [[`${dir}/mod/d`, "inside"], [outside, MARKER]] as const) {
        await Deno.mkdir(root, { recursive: true });
        for (let i = 0; i < 300; i++) {
          await Deno.writeTextFile(`${root}/f${i}.txt`, `${text} ${i}${padding}`);
        }
      }
      await Deno.symlink(outside, `${dir}/mod/L`);
      const exchanger = await buildExchanger(dir);
      const daemon = await raceDaemon(dir, setting);
      const swapper = new Swapper(exchanger, `${dir}/mod/d`, `${dir}/mod/L`);
      let exchangedAt = -1;
      let outcome = "";
      try {
        const pull = copy(`${daemon.address}:/mod/d/`, `${dir}/pulled`).then(
          (summary) => `${summary.files_transferred} pulled, ${summary.files_failed} failed`,
          (error) => `${error}`,
        );
        let done = false;
        pull.finally(() => done = true);
        // Once the first files are in place, the directory is exchanged, once.
        while (!done) {
          const landed = filesUnder(`${dir}/pulled`).size;
          if (landed >= 20) {
            await swapper.once();
            exchangedAt = landed;
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        outcome = await pull;
      } finally {
        await daemon.stop();
        if ((await Deno.lstat(`${dir}/mod/d`)).isSymlink) await swapper.once();
      }
      const leaked = [...filesUnder(`${dir}/pulled`).values()].filter((c) => c.includes(MARKER));
      console.log(`one exchange after ${exchangedAt} files: ${outcome}; ${leaked.length} outside`);
      equal(leaked.length, 0, "no outside file read");
    });
  },
});
