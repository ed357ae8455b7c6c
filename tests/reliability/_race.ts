/**
 * The local-user race of issue #11 for the reliability tests: a process that exchanges a
 * directory inside a module with a symbolic link to the outside, `renameat2(RENAME_EXCHANGE)` in
 * a tight loop, while transfers run against a real daemon; and the counting of what leaked.
 *
 * coreutils has no `mv --exchange`, so the exchanger is a tiny C program compiled with `cc` into
 * a temporary directory (or, without a compiler, the same loop through python3's `ctypes`).
 *
 * @module
 */

import { startDaemon, type TestDaemon } from "../_daemon.ts";

/** The content every outside file carries, to find it wherever it lands. */
export const MARKER = "OUTSIDE-SECRET-7f3a9c";

const C_SOURCE = `#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
/*
 * exchange A B [COUNT [PAUSE]]: exchanges A and B COUNT times (0 or absent: until killed),
 * waiting a random 0..PAUSE microseconds after each exchange (0 or absent: a tight loop).
 */
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long count = argc > 3 ? atol(argv[3]) : 0;
  long pause = argc > 4 ? atol(argv[4]) : 0;
  srand(getpid());
  for (long done = 0; count == 0 || done < count; done++) {
    if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) != 0) {
      perror("renameat2");
      return 1;
    }
    if (pause > 0) usleep(rand() % (pause + 1));
  }
  return 0;
}
`;

const PY_SOURCE = `import ctypes, os, random, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
count = int(sys.argv[3]) if len(sys.argv) > 3 else 0
pause = int(sys.argv[4]) if len(sys.argv) > 4 else 0
done = 0
while count == 0 or done < count:
    # AT_FDCWD = -100, RENAME_EXCHANGE = 2 (glibc 2.28 and later have renameat2)
    if libc.renameat2(-100, a, -100, b, 2) != 0:
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
    done += 1
    if pause > 0:
        time.sleep(random.randint(0, pause) / 1e6)
`;

/**
 * Builds the exchanger in `dir`.
 * @param dir A temporary directory.
 * @returns The command line that runs it (append `A B [COUNT]`).
 */
export async function buildExchanger(dir: string): Promise<string[]> {
  const source = `${dir}/exchange.c`;
  const binary = `${dir}/exchange`;
  await Deno.writeTextFile(source, C_SOURCE);
  try {
    const built = await new Deno.Command("cc", {
      args: ["-O2", "-o", binary, source],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (built.success) return [binary];
  } catch { /* no compiler: python3 below */ }
  const script = `${dir}/exchange.py`;
  await Deno.writeTextFile(script, PY_SOURCE);
  return ["python3", script];
}

/** Exchanges two paths in a tight loop while it runs. */
export class Swapper {
  readonly #command: string[];
  readonly #a: string;
  readonly #b: string;
  readonly #pauseUs: number;
  #child: Deno.ChildProcess | null = null;

  /**
   * @param command The exchanger ({@linkcode buildExchanger}).
   * @param a The directory inside the module.
   * @param b The link to the outside.
   * @param pauseUs Longest random pause after each exchange, in microseconds (0: none).
   */
  constructor(command: string[], a: string, b: string, pauseUs = 0) {
    this.#command = command;
    this.#a = a;
    this.#b = b;
    this.#pauseUs = pauseUs;
  }

  /** Starts exchanging. */
  start(): void {
    if (this.#child) return;
    const [program, ...args] = this.#command as [string, ...string[]];
    this.#child = new Deno.Command(program, {
      args: [...args, this.#a, this.#b, "0", String(this.#pauseUs)],
      stdout: "null",
      stderr: "null",
    }).spawn();
  }

  /** Stops it (by its own process id) and leaves `a` a directory again. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
    }
    if ((await Deno.lstat(this.#a)).isSymlink) await this.once();
  }

  /** Exchanges the two once (the loop must be stopped). */
  async once(): Promise<void> {
    const [program, ...args] = this.#command as [string, ...string[]];
    const done = await new Deno.Command(program, {
      args: [...args, this.#a, this.#b, "1"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!done.success) throw new Error(`exchange failed: ${new TextDecoder().decode(done.stderr)}`);
  }
}

/**
 * Where the link leads, and how the daemon is confined:
 *
 * - `outside = "host"`: a directory the daemon does not export (`DIR/outside`). Without a
 *   namespace, Deno's sandbox (which checks the real path of what is opened) refuses most uses
 *   on its own, so this measures the code's checks and the sandbox together.
 * - `outside = "export"`: another writable module (`DIR/other`), which the daemon may read and
 *   write: only the code's checks stand between a session of `mod` and it.
 */
export interface RaceSetting {
  /** The daemon's `confinement`. */
  confinement: "none" | "namespace";
  /** What the link points to. */
  outside: "host" | "export";
  /**
   * Longest random pause after each exchange, in microseconds: 0 is a tight loop (every check
   * sees a coin toss), a pause lets transfers get going between exchanges.
   */
  pauseUs: number;
}

/** Every setting a race runs under. */
export const SETTINGS: readonly RaceSetting[] = [0, 1000].flatMap((pauseUs) =>
  [
    { confinement: "none", outside: "export", pauseUs },
    { confinement: "none", outside: "host", pauseUs },
    { confinement: "namespace", outside: "host", pauseUs },
    { confinement: "namespace", outside: "export", pauseUs },
  ] as const
);

/**
 * A setting in a few words, for the reports.
 * @param setting The setting.
 * @returns `none/export/tight` and the like.
 */
export function settingLabel(setting: RaceSetting): string {
  const rhythm = setting.pauseUs === 0 ? "tight" : `paused 0-${setting.pauseUs} us`;
  return `${setting.confinement}/${setting.outside}/${rhythm}`;
}

/**
 * The outside directory of a setting.
 * @param dir The test's temporary directory.
 * @param setting The setting.
 * @returns `DIR/outside` or `DIR/other`.
 */
export function outsideOf(dir: string, setting: RaceSetting): string {
  return setting.outside === "host" ? `${dir}/outside` : `${dir}/other`;
}

/**
 * Starts a daemon exporting `DIR/mod` and `DIR/other`, both writable by the test user, with the
 * setting's confinement.
 * @param dir The test's temporary directory (both directories must exist).
 * @param setting The setting.
 * @returns The daemon.
 */
export function raceDaemon(dir: string, setting: RaceSetting): Promise<TestDaemon> {
  return startDaemon(dir, [
    { name: "mod", path: `${dir}/mod` },
    { name: "other", path: `${dir}/other` },
  ], [`confinement = "${setting.confinement}"`]);
}

/**
 * The name of a race test.
 * @param what What runs.
 * @param setting The setting.
 * @returns The name.
 */
export function raceName(what: string, setting: RaceSetting): string {
  const target = setting.outside === "host" ? "a directory not exported" : "another module";
  const rhythm = setting.pauseUs === 0 ? "in a tight loop" : `pausing 0-${setting.pauseUs} us`;
  return `race: ${what} (${rhythm}), the link leading to ${target} ` +
    `(confinement = "${setting.confinement}")`;
}

/**
 * Every regular file under `root`, links not followed, with its content.
 * @param root A directory (missing: nothing).
 * @returns Relative path → content.
 */
export function filesUnder(root: string): Map<string, string> {
  const found = new Map<string, string>();
  const pending = [""];
  while (pending.length > 0) {
    const rel = pending.pop() as string;
    let items: Deno.DirEntry[];
    try {
      items = Array.from(Deno.readDirSync(rel === "" ? root : `${root}/${rel}`));
    } catch {
      continue;
    }
    for (const item of items) {
      const path = rel === "" ? item.name : `${rel}/${item.name}`;
      if (item.isDirectory) pending.push(path);
      else if (item.isFile) {
        try {
          found.set(path, Deno.readTextFileSync(`${root}/${path}`));
        } catch { /* gone meanwhile */ }
      }
    }
  }
  return found;
}

/**
 * Runs `attempt(i)` for i in [0, count), `parallel` at a time, and counts the ones that threw.
 * @param count Attempts.
 * @param parallel How many run at once.
 * @param attempt One attempt.
 * @returns How many failed (threw).
 */
export async function attempts(
  count: number,
  parallel: number,
  attempt: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  let failed = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      try {
        await attempt(i);
      } catch (error) {
        failed++;
        if (Deno.env.get("BLIT_RACE_VERBOSE")) console.error(`attempt ${i}: ${error}`);
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  return failed;
}
