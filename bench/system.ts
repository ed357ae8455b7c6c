/**
 * Process and machine helpers for the bench: find programs on PATH, run a command quietly,
 * flush and drop the page cache, remove and clone trees outside the timed region.
 *
 * @module
 */

/** Result of {@linkcode runQuiet}. */
export interface QuietResult {
  /** Exit code (or 128 + signal number when killed). */
  code: number;
  /** Wall-clock seconds from spawn to exit, process start-up included. */
  seconds: number;
  /** Last part of the standard error output, for error reports. */
  stderr: string;
}

/** Options for {@linkcode runQuiet}. */
export interface QuietOptions {
  /**
   * Working directory of the child.
   * @default {Deno.cwd()}
   */
  cwd?: string;
  /** Extra environment variables for the child. */
  env?: Record<string, string>;
}

/**
 * Returns the absolute path of an executable found on PATH, or `undefined`.
 * Requires `--allow-env` and `--allow-read`.
 * @param name Program name, e.g. `"rsync"`.
 * @returns Its path, or `undefined` when it is not installed.
 */
export async function findInPath(name: string): Promise<string | undefined> {
  const dirs = (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":");
  for (const dir of dirs) {
    if (dir === "") continue;
    try {
      const info = await Deno.stat(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/**
 * Runs a command to completion with stdout discarded, timing it by the wall clock.
 * Requires `--allow-run`.
 * @param cmd Program to run.
 * @param args Its arguments.
 * @param options Working directory and environment.
 * @returns Exit code, seconds and the tail of stderr.
 */
export async function runQuiet(
  cmd: string,
  args: string[],
  options: QuietOptions = {},
): Promise<QuietResult> {
  const { cwd, env } = options;
  const command = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    ...(cwd === undefined ? {} : { cwd }),
    ...(env === undefined ? {} : { env }),
  });
  const start = performance.now();
  const output = await command.output();
  const seconds = (performance.now() - start) / 1000;
  const stderr = new TextDecoder().decode(output.stderr).trim();
  return { code: output.code, seconds, stderr: stderr.slice(-2000) };
}

/**
 * Runs a shell script and throws if it fails; for untimed preparation steps.
 * Requires `--allow-run`.
 * @param script Script for `sh -c`.
 * @throws {Error} If the script exits with a non-zero code.
 */
export async function sh(script: string): Promise<void> {
  const result = await runQuiet("sh", ["-c", script]);
  if (result.code !== 0) {
    throw new Error(`Cannot run "${script}": exit code ${result.code}: ${result.stderr}`);
  }
}

/**
 * Tells whether this process may drop the page cache (root, writable /proc/sys).
 * Requires `--allow-run`.
 * @returns `true` when `echo 1 > /proc/sys/vm/drop_caches` works.
 */
export async function canDropCaches(): Promise<boolean> {
  const result = await runQuiet("sh", ["-c", "sync && echo 1 > /proc/sys/vm/drop_caches"]);
  return result.code === 0;
}

/**
 * Flushes dirty pages (`sync`) and, when allowed, drops the clean page cache (`echo 1`; dentries
 * and inodes stay). Deno itself may not write /proc/sys without --allow-all, so this goes
 * through `sh`.
 * Requires `--allow-run`.
 * @param drop Whether to drop caches after syncing.
 */
export async function syncAndDrop(drop: boolean): Promise<void> {
  await sh(drop ? "sync && echo 1 > /proc/sys/vm/drop_caches" : "sync");
}

/**
 * Reads every byte of every file under `root` (`find | xargs -P 8 cat > /dev/null`), so that a
 * timed run starts with the tree in the page cache and its metadata in the dentry and inode
 * caches. Eight readers keep the disk busy: 2.5x faster than one on cold small files, and much
 * faster than reading from Deno.
 * Requires `--allow-run`.
 * @param root Tree to read.
 */
export async function warmTree(root: string): Promise<void> {
  const result = await runQuiet("sh", [
    "-c",
    'find "$1" -type f -print0 | xargs -0 -r -P 8 -n 256 cat > /dev/null',
    "sh",
    root,
  ]);
  if (result.code !== 0) throw new Error(`Cannot read "${root}": ${result.stderr}`);
}

/**
 * Removes a tree if it exists.
 * Requires `--allow-write`.
 * @param path Tree to remove.
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

let trashCounter = 0;

/**
 * Renames `path`, when it exists, into the sibling folder `PATH.trash` (a cheap metadata
 * operation): files created within about a minute of removing a large tree are much slower on
 * this project's ext4, so a benchmark moves old results aside and purges them with
 * {@linkcode purgeTrash} where that slowness falls on every tool alike, or nowhere.
 * Requires `--allow-write`.
 * @param path Tree to move aside.
 */
export async function moveToTrash(path: string): Promise<void> {
  if (!(await exists(path))) return;
  const trash = `${path}.trash`;
  await Deno.mkdir(trash, { recursive: true });
  await Deno.rename(path, `${trash}/${trashCounter++}`);
}

/**
 * Deletes the trash folders of the given paths (see {@linkcode moveToTrash}), outside any timed
 * region.
 * Requires `--allow-write`.
 * @param paths The paths whose trash goes.
 */
export async function purgeTrash(paths: readonly string[]): Promise<void> {
  for (const path of new Set(paths)) await removeTree(`${path}.trash`);
}

/**
 * Clones a tree with `cp -a` (times and modes preserved), replacing `dst`; untimed preparation.
 * Requires `--allow-run` and `--allow-write`.
 * @param src Existing tree.
 * @param dst Path of the copy; removed first if present.
 */
export async function cloneTree(src: string, dst: string): Promise<void> {
  await removeTree(dst);
  const result = await runQuiet("cp", ["-a", src, dst]);
  if (result.code !== 0) {
    throw new Error(`Cannot clone "${src}" to "${dst}": ${result.stderr}`);
  }
}

/**
 * Whether a path exists (a link counts, whatever it points at).
 * Requires `--allow-read`.
 * @param path The path.
 * @returns `true` when `lstat` finds it.
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The note a bench prints when {@linkcode freePageReporting} is `true`. */
export const FREE_PAGE_REPORTING_NOTE: string =
  "this virtual machine reports free memory to its host (virtio-balloon free page reporting): " +
  "memory taken from the free pool faults on the host first (~3 s per GiB measured here), so " +
  "rows that write gigabytes vary run to run, for every tool";

/** The virtio device id of a memory balloon, as its `device` file under /sys/bus/virtio shows it. */
const VIRTIO_BALLOON_DEVICE = "0x0005";

/** Feature bit of virtio-balloon's free page reporting (`VIRTIO_BALLOON_F_REPORTING`). */
const BALLOON_REPORTING_BIT = 5;

/**
 * Tells whether this machine is a virtual machine whose balloon device reports free memory to
 * its host (virtio-balloon free page reporting). The host then discards every free block it
 * is told of, so memory the page cache or a new process takes from the free pool faults on the
 * host first. On this project's 2-vCPU VM that made writing 1 GiB into the page cache take
 * 3.2–3.5 s of system time (`dd`; `perf`: `copy_folio_from_iter_atomic`) against 0.27 s into
 * memory just touched, and touching the free memory beforehand did not last: 30 s later the
 * host had taken it back. Runs that write gigabytes (rows (a) and (c)) vary with it, whoever runs.
 * Requires `--allow-read` (/sys/bus/virtio).
 * @returns `true` when a virtio-balloon device offers free page reporting.
 */
export async function freePageReporting(): Promise<boolean> {
  const root = "/sys/bus/virtio/devices";
  try {
    for await (const entry of Deno.readDir(root)) {
      const device = await Deno.readTextFile(`${root}/${entry.name}/device`).catch(() => "");
      if (device.trim() !== VIRTIO_BALLOON_DEVICE) continue;
      const features = await Deno.readTextFile(`${root}/${entry.name}/features`).catch(() => "");
      if (features[BALLOON_REPORTING_BIT] === "1") return true;
    }
  } catch {
    // No virtio bus: not such a machine.
  }
  return false;
}
