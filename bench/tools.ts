/**
 * The command lines the bench times: blit (as a `deno run` subprocess, start-up included),
 * `cp -a`, `tar | tar`, `rsync -a`, and the rsync-daemon and blit-daemon remote variants.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { findInPath, runQuiet } from "./system.ts";

/** Local tools the bench knows. */
export type ToolName = "blit" | "cp" | "tar" | "rsync";

/** All local tools, in table order. */
export const TOOL_NAMES: readonly ToolName[] = ["blit", "cp", "tar", "rsync"];

/** One command line to spawn. */
export interface Invocation {
  /** Program path. */
  cmd: string;
  /** Arguments. */
  args: string[];
  /** Working directory, when it matters. */
  cwd?: string;
}

/** A local tool: how it copies into a fresh destination and, if it can, mirrors. */
export interface Tool {
  /** Short name, used in `--tools`. */
  name: ToolName;
  /** Column header. */
  label: string;
  /** Copies the contents of `src` into `dst` (which does not exist yet). */
  copy(src: string, dst: string): Invocation;
  /** Makes `dst` (which exists) an exact mirror of `src`; absent when the tool cannot. */
  mirror?: (src: string, dst: string) => Invocation;
}

/** Repository root (the parent of `bench/`); blit runs with this working directory. */
export const REPO_ROOT: string = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** The blit CLI entry point, resolved relative to this file. */
export const BLIT_MAIN: string = fileURLToPath(new URL("../cli/main.ts", import.meta.url));

/** `deno run` plus the permission flags of the `blit` task in deno.json (so the bench runs blit
 * exactly as `deno task blit` does). */
export const BLIT_RUN_FLAGS: readonly string[] = [
  "run",
  ...(JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`)).tasks.blit as string)
    .split(/\s+/).filter((word) => word.startsWith("--")),
];

/**
 * Builds a blit command line: `deno run <flags> cli/main.ts <args>`, run from the repo root.
 * @param args Arguments after `cli/main.ts`, e.g. `["copy", "src/", "dst"]`.
 * @returns The invocation.
 */
export function blitInvocation(args: string[]): Invocation {
  return { cmd: Deno.execPath(), args: [...BLIT_RUN_FLAGS, BLIT_MAIN, ...args], cwd: REPO_ROOT };
}

function blitTool(): Tool {
  return {
    name: "blit",
    label: "blit",
    copy: (src, dst) => blitInvocation(["copy", `${src}/`, dst]),
    mirror: (src, dst) => blitInvocation(["mirror", `${src}/`, dst, "--yes"]),
  };
}

function cpTool(cp: string): Tool {
  return {
    name: "cp",
    label: "cp -a",
    copy: (src, dst) => ({ cmd: cp, args: ["-a", src, dst] }),
  };
}

function tarTool(tar: string): Tool {
  const script = 'mkdir -p "$3" && "$1" -C "$2" -cf - . | "$1" -C "$3" -xf -';
  return {
    name: "tar",
    label: "tar|tar",
    copy: (src, dst) => ({ cmd: "sh", args: ["-c", script, "sh", tar, src, dst] }),
  };
}

function rsyncTool(rsync: string): Tool {
  return {
    name: "rsync",
    label: "rsync -a",
    copy: (src, dst) => ({ cmd: rsync, args: ["-a", `${src}/`, dst] }),
    mirror: (src, dst) => ({ cmd: rsync, args: ["-a", "--delete", `${src}/`, `${dst}/`] }),
  };
}

/** Result of {@linkcode resolveTools}. */
export interface ResolvedTools {
  /** Usable tools, in the requested order. */
  tools: Tool[];
  /** One line per skipped tool, saying why. */
  notes: string[];
}

/**
 * Finds which requested tools can run here. A missing program is skipped with a note, never an
 * error. blit must have its entry point and answer `--version` (which also warms Deno's module
 * cache, so the first timed run does not pay for it).
 * Requires `--allow-env`, `--allow-read` and `--allow-run`.
 * @param names Tools requested with `--tools`.
 * @returns The usable tools and notes about the others.
 */
export async function resolveTools(names: readonly ToolName[]): Promise<ResolvedTools> {
  const tools: Tool[] = [];
  const notes: string[] = [];
  for (const name of names) {
    if (name === "blit") {
      const problem = await blitProblem();
      if (problem === undefined) tools.push(blitTool());
      else notes.push(`blit: skipped (${problem})`);
      continue;
    }
    const path = await findInPath(name);
    if (path === undefined) {
      notes.push(`${name}: skipped (not found on PATH)`);
      continue;
    }
    if (name === "cp") tools.push(cpTool(path));
    if (name === "tar") tools.push(tarTool(path));
    if (name === "rsync") tools.push(rsyncTool(path));
  }
  return { tools, notes };
}

async function blitProblem(): Promise<string | undefined> {
  try {
    await Deno.stat(BLIT_MAIN);
  } catch {
    return `"${BLIT_MAIN}" does not exist`;
  }
  const inv = blitInvocation(["--version"]);
  const result = await runQuiet(inv.cmd, inv.args, inv.cwd === undefined ? {} : { cwd: inv.cwd });
  if (result.code !== 0) {
    const detail = result.stderr.split("\n").slice(-3).join(" ").slice(0, 300);
    return `"blit --version" failed with exit code ${result.code}: ${detail}`;
  }
  return undefined;
}

/** A remote column: how it moves a tree between this machine and a daemon on loopback. */
export interface RemoteTool {
  /** Column header. */
  label: string;
  /** `push`: local source → daemon; `pull`: daemon → local destination. */
  direction: "push" | "pull";
  /**
   * Builds the command.
   * @param local Local tree (source for push, destination for pull).
   * @param remotePath Path inside the module (destination for push, source for pull).
   */
  invocation(local: string, remotePath: string): Invocation;
  /**
   * Builds the mirror command (the destination exists; extra files are deleted), for the
   * mirror workloads.
   */
  mirror(local: string, remotePath: string): Invocation;
  /**
   * A path under the working directory that appears only if the command misreads the remote
   * endpoint as a local path; the bench fails the run when it exists.
   */
  misparsePath?: string;
}

/**
 * rsync daemon push and pull columns, for a daemon on 127.0.0.1.
 * @param rsync Path of the rsync client.
 * @param port Daemon port.
 * @param module Module name.
 * @returns The push and pull columns.
 */
export function rsyncDaemonTools(rsync: string, port: number, module: string): RemoteTool[] {
  const url = (path: string): string => `rsync://127.0.0.1:${port}/${module}/${path}/`;
  return [
    {
      label: "rsyncd push",
      direction: "push",
      invocation: (local, path) => ({ cmd: rsync, args: ["-a", `${local}/`, url(path)] }),
      mirror: (local, path) => ({ cmd: rsync, args: ["-a", "--delete", `${local}/`, url(path)] }),
    },
    {
      label: "rsyncd pull",
      direction: "pull",
      invocation: (local, path) => ({ cmd: rsync, args: ["-a", url(path), local] }),
      mirror: (local, path) => ({ cmd: rsync, args: ["-a", "--delete", url(path), `${local}/`] }),
    },
  ];
}

/**
 * blit push and pull columns against a running blit daemon at `address` (`127.0.0.1:PORT`) that
 * exports `module` rooted at the bench's preset directory (`HOST:PORT:/module/path/`).
 * @param address `host:port` of the blit daemon.
 * @param module Module name.
 * @param options `tls: false` for a daemon with `tls = false` (columns labelled "(tls off)").
 * @returns The push and pull columns.
 */
export function blitDaemonTools(
  address: string,
  module: string,
  options: { tls?: boolean } = {},
): RemoteTool[] {
  const tls = options.tls ?? true;
  const remote = (path: string): string => `${address}:/${module}/${path}/`;
  const misparsePath = `${REPO_ROOT}/${address}:`;
  const suffix = tls ? "" : " (tls off)";
  const extra = tls ? [] : ["--no-tls"];
  return [
    {
      label: `blit push${suffix}`,
      direction: "push",
      invocation: (local, path) => blitInvocation(["copy", ...extra, `${local}/`, remote(path)]),
      mirror: (local, path) =>
        blitInvocation(["mirror", ...extra, "--yes", `${local}/`, remote(path)]),
      misparsePath,
    },
    {
      label: `blit pull${suffix}`,
      direction: "pull",
      invocation: (local, path) => blitInvocation(["copy", ...extra, remote(path), local]),
      mirror: (local, path) =>
        blitInvocation(["mirror", ...extra, "--yes", remote(path), `${local}/`]),
      misparsePath,
    },
  ];
}
