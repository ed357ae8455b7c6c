/**
 * What the hostile-peer tests measure of a running daemon, from `/proc` (Linux only): which
 * process is the server, its resident memory, its open descriptors.
 *
 * The `blitd` launcher may run the server directly or inside a sandbox (bubblewrap), so the
 * server is found as any descendant of the launcher whose command line names `daemon/server.ts`,
 * never assumed to be a direct child.
 *
 * @module
 */

/**
 * The parent process id of every process visible in `/proc`.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { parentIds } from "./_process.ts";
 * ok(parentIds().has(Deno.pid));
 * ```
 *
 * @returns pid → ppid.
 */
export function parentIds(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    parents.set(Number(entry.name), Number(fields[1]));
  }
  return parents;
}

/**
 * The command line of a process, its arguments joined by spaces (`""` when it is gone).
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { commandLine } from "./_process.ts";
 * ok(commandLine(Deno.pid).length > 0);
 * ```
 *
 * @param pid The process.
 * @returns Its command line.
 */
export function commandLine(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/**
 * Finds the daemon's server process among the descendants of the launcher.
 *
 * @example Usage
 * ```ts ignore
 * const daemon = await startDaemon(dir, modules);
 * const server = await findServerPid(daemon.pid);
 * ```
 *
 * @param launcherPid The `blitd` launcher's process id.
 * @param timeoutMs How long to look (the launcher may be restarting it).
 * @throws {Error} When no descendant runs `daemon/server.ts` within `timeoutMs`.
 * @returns The server's process id.
 */
export async function findServerPid(launcherPid: number, timeoutMs = 10_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (true) {
    const parents = parentIds();
    const below = new Set<number>([launcherPid]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const [pid, ppid] of parents) {
        if (!below.has(pid) && below.has(ppid)) {
          below.add(pid);
          grew = true;
        }
      }
    }
    below.delete(launcherPid);
    for (const pid of below) {
      // Under bubblewrap, bwrap's own command line names the script too: skip it.
      const line = commandLine(pid);
      if (line.includes("daemon/server.ts") && !/^\S*bwrap\s/.test(line)) return pid;
    }
    if (performance.now() > deadline) {
      throw new Error(
        `Cannot find the blitd server below launcher ${launcherPid}: no descendant runs daemon/server.ts`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Resident memory of a process (`VmRSS` in `/proc/PID/status`).
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { rssBytes } from "./_process.ts";
 * ok(rssBytes(Deno.pid) > 1024 * 1024);
 * ```
 *
 * @param pid The process.
 * @throws {Error} When the process is gone.
 * @returns Bytes.
 */
export function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`Cannot read the memory of process ${pid}: no VmRSS line`);
  return Number(match[1]) * 1024;
}

/**
 * Open file descriptors of a process (entries of `/proc/PID/fd`).
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { fdCount } from "./_process.ts";
 * ok(fdCount(Deno.pid) >= 3);
 * ```
 *
 * @param pid The process.
 * @throws {Error} When the process is gone.
 * @returns How many.
 */
export function fdCount(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/**
 * Whether a process is still running (not gone, not a zombie).
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { isAlive } from "./_process.ts";
 * ok(isAlive(Deno.pid));
 * ```
 *
 * @param pid The process.
 * @returns `true` while it runs.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/**
 * Polls `measure` until `done` holds of its value, or the time is up; returns the last value
 * either way (the caller asserts on it, with the number in the message).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { settle } from "./_process.ts";
 * let n = 0;
 * strictEqual(await settle(() => ++n, (v) => v >= 3, 1000, 1), 3);
 * ```
 *
 * @param measure Reads the value.
 * @param done Whether the value is good enough.
 * @param timeoutMs Longest wait.
 * @param everyMs Poll interval.
 * @returns The last value read.
 */
export async function settle<T>(
  measure: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let value = await measure();
  while (!done(value) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    value = await measure();
  }
  return value;
}
