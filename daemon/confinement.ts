/**
 * The daemon's mount namespace: on Linux the launcher runs the sandboxed server through
 * bubblewrap (`bwrap`) in a private mount namespace that holds only what it needs — the Deno
 * runtime, the system libraries and blit's code read-only, `/dev`, `/proc`, an empty `/tmp`,
 * and each export: writable ones bind-mounted read-write, read-only ones bind-mounted
 * read-only. Paths are identical inside, so configuration and messages do not change. A
 * symlink in an export that points at `/etc/passwd` then points at nothing, a directory swapped
 * for a link can only lead to another place inside the exports, and the kernel refuses a write
 * to a read-only export even if every other check failed.
 *
 * Not inside: the configuration file, the state directory, the TLS key and the audit log (the
 * launcher reads and opens them before it starts the server, see daemon/handoff.ts), `/etc`
 * (except the few name-resolution files), home directories and every other file of the host.
 *
 * Every namespace but the network's is private, the user namespace included — except when the
 * launcher runs as root and an export keeps owners (`keep_owner = true`): in a user namespace
 * every id but the server's own appears as 65534 and cannot be given to a file, so ids must be
 * real to be kept (see {@linkcode needsUserNamespace}).
 *
 * @module
 */

import { anyoneMayWrite, moduleRules, rootRules } from "../core/access.ts";
import { type DaemonConfig, keepsOwners } from "../core/config.ts";

/** One entry of the namespace, in the order bubblewrap applies them. */
export type Mount =
  | { kind: "ro-bind" | "bind"; source: string; target: string; why: string }
  | { kind: "symlink"; source: string; target: string; why: string }
  | { kind: "dev" | "proc" | "tmpfs"; target: string; why: string };

/** Where the server's code and runtime are, for {@linkcode computeMounts}. */
export interface NamespaceLayout {
  /** Absolute path of the checkout (the code and its `node_modules`). */
  repoRoot: string;
  /** Absolute path of the server script. */
  serverEntry: string;
  /** Absolute real path of the Deno executable. */
  deno: string;
  /** Deno's cache directory (compiled code), mounted read-only when it exists; or `null`. */
  denoDir: string | null;
  /**
   * The host's top-level system entries: each of `/usr`, `/bin`, `/lib`, `/lib64`, `/sbin`
   * that exists, as a directory or as a symlink (merged-/usr systems link `/lib` to
   * `usr/lib`).
   */
  system: { path: string; link: string | null }[];
  /** Name-resolution files of `/etc` that exist (`/etc/hosts`, `/etc/nsswitch.conf`, …). */
  etc: string[];
}

/** Top-level system directories the runtime may need (its libraries, the loader). */
export const SYSTEM_PATHS: readonly string[] = ["/usr", "/bin", "/lib", "/lib64", "/sbin"];

/** Files of `/etc` that name resolution reads (`bind = "localhost"`); nothing else of /etc. */
export const ETC_FILES: readonly string[] = [
  "/etc/hosts",
  "/etc/nsswitch.conf",
  "/etc/host.conf",
  "/etc/gai.conf",
];

/**
 * Computes the namespace of the server: the system, the runtime and the code, read-only; then
 * the exports (parents before children, so an export nested in another gets its own mode, and
 * an export under `/tmp` is not hidden by the empty `/tmp`).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { computeMounts } from "./confinement.ts";
 * const key = `blit-ed25519 ${new Uint8Array(32).fill(1).toBase64()}`;
 * const config = parseDaemonConfig(
 *   `[[user]]\nname = 'a'\npublic_key = '${key}'\n` +
 *     "[[module]]\nname = 'pub'\npath = '/srv/pub'\n" +
 *     "[[module]]\nname = 'up'\npath = '/srv/pub/up'\nusers = ['a']\n",
 * );
 * const mounts = computeMounts(config, {
 *   repoRoot: "/opt/blit",
 *   serverEntry: "/opt/blit/daemon/server.ts",
 *   deno: "/usr/bin/deno",
 *   denoDir: null,
 *   system: [{ path: "/usr", link: null }, { path: "/lib", link: "usr/lib" }],
 *   etc: ["/etc/hosts"],
 * });
 * deepStrictEqual(mounts.map((m) => `${m.kind} ${m.target}`), [
 *   "ro-bind /usr",
 *   "symlink /lib",
 *   "ro-bind /etc/hosts",
 *   "dev /dev",
 *   "proc /proc",
 *   "tmpfs /tmp",
 *   "ro-bind /opt/blit",
 *   "ro-bind /srv/pub",
 *   "bind /srv/pub/up",
 * ]);
 * ```
 *
 * @param config The final configuration (paths resolved).
 * @param layout Where the code, the runtime and the system files are.
 * @returns The mounts, in order.
 */
export function computeMounts(config: DaemonConfig, layout: NamespaceLayout): Mount[] {
  const exports: { path: string; writable: boolean; what: string }[] = config.modules.map(
    (module) => ({
      path: module.path,
      writable: anyoneMayWrite(moduleRules(module)),
      what: `module "${module.name}"`,
    }),
  );
  if (config.root !== null) {
    exports.push({ path: config.root, writable: anyoneMayWrite(rootRules(config)), what: "root" });
  }
  exports.sort((a, b) => depth(a.path) - depth(b.path));
  const mounts: Mount[] = [];
  for (const { path, link } of layout.system) {
    mounts.push(
      link === null
        ? { kind: "ro-bind", source: path, target: path, why: "system libraries" }
        : { kind: "symlink", source: link, target: path, why: "system link" },
    );
  }
  for (const file of layout.etc) {
    mounts.push({ kind: "ro-bind", source: file, target: file, why: "name resolution" });
  }
  mounts.push(
    { kind: "dev", target: "/dev", why: "/dev/null and friends" },
    { kind: "proc", target: "/proc", why: "the runtime's own process information" },
    { kind: "tmpfs", target: "/tmp", why: "an empty temporary directory" },
  );
  const code: { path: string; why: string }[] = [
    { path: layout.deno, why: "the Deno runtime" },
    { path: layout.repoRoot, why: "blit's code" },
    { path: layout.serverEntry, why: "the server's entry" },
  ];
  if (layout.denoDir !== null) code.push({ path: layout.denoDir, why: "Deno's code cache" });
  const mounted = layout.system.filter((entry) => entry.link === null).map((entry) => entry.path);
  for (const { path, why } of code) {
    if (mounted.some((dir) => isInside(path, dir))) continue;
    mounts.push({ kind: "ro-bind", source: path, target: path, why });
    mounted.push(path);
  }
  for (const { path, writable, what } of exports) {
    mounts.push({
      kind: writable ? "bind" : "ro-bind",
      source: path,
      target: path,
      why: `${what}, ${writable ? "writable" : "read-only"}`,
    });
  }
  return mounts;
}

/** Options for {@linkcode bwrapArgs}. */
export interface BwrapOptions {
  /** The working directory inside. */
  chdir: string;
  /** Whether the launcher runs as root (then only {@linkcode ROOT_CAPABILITIES} are kept). */
  root: boolean;
  /**
   * Whether the server gets a user namespace of its own. Inside one, every id but the server's
   * own appears as 65534 and cannot be given to a file, so a root launcher whose exports keep
   * owners (`keep_owner`, see {@linkcode needsUserNamespace}) runs it without one.
   * @default {true}
   */
  userNamespace?: boolean;
}

/**
 * Whether the server's namespace may include a user namespace: not when the launcher runs as
 * root and an export keeps owners (`keep_owner = true`), since ids must be real to be kept.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { needsUserNamespace } from "./confinement.ts";
 * const config = parseDaemonConfig("[[module]]\nname = 'm'\npath = '/m'\nkeep_owner = true\n");
 * strictEqual(needsUserNamespace(config, { root: true }), false);
 * strictEqual(needsUserNamespace(config, { root: false }), true);
 * ```
 *
 * @param config The final configuration.
 * @param options Whether the launcher runs as root.
 * @returns False when the server must see real ids.
 */
export function needsUserNamespace(config: DaemonConfig, options: { root: boolean }): boolean {
  return !(options.root && keepsOwners(config));
}

/**
 * Turns mounts into bubblewrap's arguments, with the namespaces and the process settings:
 * every namespace unshared except the network (the daemon serves on it) — and except the user
 * namespace when `userNamespace` is false —, the server killed with its parent, a new session
 * (no terminal injection), and, when the launcher runs as root, only the capabilities a file
 * server needs.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { bwrapArgs } from "./confinement.ts";
 * deepStrictEqual(
 *   bwrapArgs([{ kind: "bind", source: "/srv/a", target: "/srv/a", why: "" }], {
 *     chdir: "/opt/blit",
 *     root: false,
 *   }),
 *   [
 *     "--unshare-all", "--share-net", "--die-with-parent", "--new-session",
 *     "--bind", "/srv/a", "/srv/a", "--chdir", "/opt/blit",
 *   ],
 * );
 * ```
 *
 * @example Root keeping owners: no user namespace
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { bwrapArgs } from "./confinement.ts";
 * const args = bwrapArgs([], { chdir: "/opt/blit", root: true, userNamespace: false });
 * deepStrictEqual(args.slice(0, 8), [
 *   "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try",
 *   "--die-with-parent", "--new-session", "--cap-drop", "ALL",
 * ]);
 * ```
 *
 * @param mounts From {@linkcode computeMounts}.
 * @param options The working directory inside, whether the launcher runs as root, and whether
 * the server gets a user namespace.
 * @returns The arguments before the command.
 */
export function bwrapArgs(mounts: readonly Mount[], options: BwrapOptions): string[] {
  const { chdir, root, userNamespace = true } = options;
  // `--unshare-all` includes a user namespace; without one, the same list less user and net.
  const args = userNamespace
    ? ["--unshare-all", "--share-net"]
    : ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"];
  args.push("--die-with-parent", "--new-session");
  if (root) {
    args.push("--cap-drop", "ALL");
    for (const cap of ROOT_CAPABILITIES) args.push("--cap-add", cap);
  }
  for (const mount of mounts) {
    if ("source" in mount) args.push(`--${mount.kind}`, mount.source, mount.target);
    else args.push(`--${mount.kind}`, mount.target);
  }
  args.push("--chdir", chdir);
  return args;
}

/**
 * Capabilities a root server keeps: reading and writing files of any owner in its exports,
 * setting their owners, modes and times. No `CAP_SYS_ADMIN` (no mounts), no `CAP_SETUID`.
 */
export const ROOT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_NET_BIND_SERVICE",
];

/**
 * Formats mounts for `blitd --print-permissions`: one line each, `KIND TARGET (WHY)`, with the
 * source when it differs.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatMounts } from "./confinement.ts";
 * strictEqual(
 *   formatMounts([
 *     { kind: "ro-bind", source: "/srv/a", target: "/srv/a", why: "module \"a\", read-only" },
 *     { kind: "symlink", source: "usr/lib", target: "/lib", why: "system link" },
 *   ]),
 *   "ro-bind /srv/a  (module \"a\", read-only)\nsymlink /lib -> usr/lib  (system link)\n",
 * );
 * ```
 *
 * @param mounts From {@linkcode computeMounts}.
 * @returns The text, ending with a newline.
 */
export function formatMounts(mounts: readonly Mount[]): string {
  return mounts.map((mount) => {
    const from = "source" in mount && mount.source !== mount.target ? ` -> ${mount.source}` : "";
    return `${mount.kind} ${mount.target}${from}  (${mount.why})`;
  }).join("\n") + (mounts.length > 0 ? "\n" : "");
}

/**
 * Reads the host's layout for {@linkcode computeMounts}: which system entries exist and which
 * are links, which name-resolution files exist, and the real path of Deno.
 *
 * Requires `--allow-read` for the system paths and Deno's cache directory.
 *
 * @example Usage
 * ```ts ignore
 * const layout = await readNamespaceLayout({ repoRoot, serverEntry, deno: Deno.execPath(),
 *   denoDir: "/root/.cache/deno" });
 * ```
 *
 * @param code Where the code and the runtime are (the runtime may be a symlink).
 * @returns The layout.
 */
export async function readNamespaceLayout(
  code: { repoRoot: string; serverEntry: string; deno: string; denoDir: string | null },
): Promise<NamespaceLayout> {
  const system: NamespaceLayout["system"] = [];
  for (const path of SYSTEM_PATHS) {
    const info = await Deno.lstat(path).catch(() => null);
    if (info === null) continue;
    system.push({ path, link: info.isSymlink ? await Deno.readLink(path) : null });
  }
  const etc: string[] = [];
  for (const file of ETC_FILES) {
    if (await Deno.stat(file).then((i) => i.isFile, () => false)) etc.push(file);
  }
  const deno = await Deno.realPath(code.deno);
  const denoDir = code.denoDir !== null &&
      await Deno.stat(code.denoDir).then((i) => i.isDirectory, () => false)
    ? await Deno.realPath(code.denoDir)
    : null;
  return { ...code, deno, denoDir, system, etc };
}

/**
 * Deno's cache directory as Deno itself picks it: `DENO_DIR`, else `$XDG_CACHE_HOME/deno`,
 * else `$HOME/.cache/deno`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { denoCacheDir } from "./confinement.ts";
 * strictEqual(denoCacheDir((name) => ({ HOME: "/home/b" } as Record<string, string>)[name]),
 *   "/home/b/.cache/deno");
 * ```
 *
 * @param env Reads one environment variable.
 * @returns The directory, or `null` when none can be named.
 */
export function denoCacheDir(env: (name: string) => string | undefined): string | null {
  const explicit = env("DENO_DIR");
  if (explicit) return explicit;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/deno`;
  const home = env("HOME");
  return home ? `${home}/.cache/deno` : null;
}

function depth(path: string): number {
  return path.split("/").filter((part) => part !== "").length;
}

function isInside(path: string, parent: string): boolean {
  return path === parent || parent === "/" || path.startsWith(`${parent}/`);
}
