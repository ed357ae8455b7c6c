/**
 * The file system a systemd service of `blitd` sees: the same view as the launcher's own
 * namespace, whose policy lives in daemon/confinement.ts ({@linkcode computeMounts} decides
 * which export is mounted read-write and which read-only), plus what the launcher itself reads
 * or writes before it starts the server, since in a service both run in the unit's namespace:
 * the configuration file and the TLS files (read-only), the state directory and the audit log's
 * directory (writable). Every other top-level directory of the host becomes an empty, read-only
 * tmpfs; home directories are hidden; `/tmp` and `/dev` are private.
 *
 * @module
 */

import type { DaemonConfig } from "../core/config.ts";
import { computeMounts, type NamespaceLayout } from "./confinement.ts";

/** One entry of the host's `/`. */
export interface TopLevelEntry {
  /** Absolute path (`/etc`, `/srv`, …). */
  path: string;
  /** What it is (a symlink is not followed). */
  kind: "directory" | "file" | "symlink";
}

/** What {@linkcode computeServiceView} needs besides the configuration. */
export interface ServiceViewInputs {
  /** Absolute real path of the config file. */
  configPath: string;
  /** The runtime, the code and the system entries, as for {@linkcode computeMounts}. */
  layout: NamespaceLayout;
  /** The host's top-level entries. */
  topLevel: readonly TopLevelEntry[];
  /** Deno's cache directory of the service, bound read-only even when it is still missing. */
  denoDir: string;
}

/** A path made visible in the service's namespace (`BindPaths=`/`BindReadOnlyPaths=`). */
export interface ServiceBind {
  /** Absolute path, the same inside and outside. */
  path: string;
  /** True for read-write. */
  writable: boolean;
  /** Why it is there (a comment in the unit). */
  why: string;
  /** True when the service may start without it (blitd then says what is missing). */
  optional: boolean;
}

/** The service's view of the file system. */
export interface ServiceView {
  /** Paths made visible, in order (parents before children). */
  binds: ServiceBind[];
  /** Top-level directories replaced by an empty read-only tmpfs. */
  tmpfs: string[];
  /** Top-level files made inaccessible. */
  inaccessible: string[];
  /** Paths writable despite `ProtectSystem=strict`. */
  readWritePaths: string[];
  /** `StateDirectory=`/`LogsDirectory=` settings, as `KEY=VALUE` lines. */
  execDirectories: string[];
  /**
   * `ProtectHome=`: `yes` hides home directories, `tmpfs` when something visible lies under
   * `/home`, `/root` or `/run/user`, `no` when an export is `/` itself.
   */
  protectHome: "yes" | "tmpfs" | "no";
  /** The writable exports that keep setuid/setgid bits (`keep_special_bits`), named. */
  specialBits: string[];
}

/** Top-level directories kept as they are (or replaced by systemd itself). */
const KEPT_TOP_LEVEL: readonly string[] = ["/dev", "/proc", "/sys", "/tmp", "/home", "/root"];

/** Where `ProtectHome=` acts. */
const HOME_PATHS: readonly string[] = ["/home", "/root", "/run/user"];

/**
 * Computes the service's view of the file system.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { computeServiceView } from "./systemd_view.ts";
 * const config = parseDaemonConfig(
 *   "[daemon]\nstate_dir = '/var/lib/blit'\n[[module]]\nname = 'pub'\npath = '/srv/pub'\n" +
 *     "[[module]]\nname = 'in'\npath = '/srv/in'\nanonymous_write = true\n",
 * );
 * const view = computeServiceView(config, {
 *   configPath: "/etc/blit/config.toml",
 *   layout: {
 *     repoRoot: "/opt/blit",
 *     serverEntry: "/opt/blit/daemon/server.ts",
 *     deno: "/usr/bin/deno",
 *     denoDir: "/var/cache/blit/deno",
 *     system: [{ path: "/usr", link: null }],
 *     etc: [],
 *   },
 *   topLevel: [
 *     { path: "/etc", kind: "directory" },
 *     { path: "/opt", kind: "directory" },
 *     { path: "/srv", kind: "directory" },
 *     { path: "/usr", kind: "directory" },
 *     { path: "/var", kind: "directory" },
 *   ],
 *   denoDir: "/var/cache/blit/deno",
 * });
 * deepStrictEqual(view.binds.map((b) => `${b.writable ? "rw" : "ro"} ${b.path}`), [
 *   "ro /opt/blit",
 *   "ro /var/cache/blit/deno",
 *   "ro /srv/pub",
 *   "rw /srv/in",
 *   "ro /etc/blit/config.toml",
 * ]);
 * deepStrictEqual(view.tmpfs, ["/etc", "/opt", "/srv", "/var"]);
 * deepStrictEqual(view.readWritePaths, ["/srv/in", "/var/lib/blit"]);
 * deepStrictEqual(view.execDirectories, ["StateDirectory=blit", "StateDirectoryMode=0700"]);
 * ```
 *
 * @param config The final configuration (paths resolved).
 * @param inputs The config file, the host's layout and Deno's cache of the service.
 * @returns The view.
 */
export function computeServiceView(config: DaemonConfig, inputs: ServiceViewInputs): ServiceView {
  const { layout } = inputs;
  const systemDirs = layout.system.filter((entry) => entry.link === null).map((e) => e.path);
  const code = new Set([layout.deno, layout.repoRoot, layout.serverEntry]);
  const binds: ServiceBind[] = [];
  for (const mount of computeMounts(config, layout)) {
    if (mount.kind !== "bind" && mount.kind !== "ro-bind") continue; // /dev, /proc, /tmp, links
    if (systemDirs.includes(mount.target)) continue; // visible read-only: ProtectSystem=strict
    binds.push({
      path: mount.target,
      writable: mount.kind === "bind",
      why: mount.why,
      optional: !code.has(mount.target),
    });
  }
  if (layout.denoDir === null) {
    const why = "Deno's code cache (missing when this unit was generated)";
    const at = binds.findIndex((bind) => !code.has(bind.path) && !bind.path.startsWith("/etc/"));
    binds.splice(at < 0 ? binds.length : at, 0, {
      path: inputs.denoDir,
      writable: false,
      why,
      optional: true,
    });
  }
  const launcher = launcherPaths(config, inputs.configPath);
  const visible = (path: string): boolean =>
    binds.some((bind) => bind.path === path) || systemDirs.some((dir) => isInside(path, dir));
  for (const bind of launcher.binds) if (!visible(bind.path)) binds.push(bind);

  const exportPaths = new Set([
    ...config.modules.map((module) => module.path),
    ...(config.root === null ? [] : [config.root]),
  ]);
  const writable = binds.filter((bind) => bind.writable && exportPaths.has(bind.path))
    .map((bind) => bind.path);
  const readWritePaths = [...new Set([...writable, ...launcher.writableDirs])];
  const specialBits = [
    ...config.modules.filter((m) => m.keepSpecialBits && writable.includes(m.path))
      .map((m) => `module "${m.name}"`),
    ...(config.root !== null && config.rootKeepSpecialBits && writable.includes(config.root)
      ? ["the root"]
      : []),
  ];

  const shown = binds.map((bind) => bind.path);
  const everything = shown.includes("/") || readWritePaths.includes("/");
  const tmpfs: string[] = [];
  const inaccessible: string[] = [];
  for (const entry of everything ? [] : inputs.topLevel) {
    if (KEPT_TOP_LEVEL.includes(entry.path) || systemDirs.includes(entry.path)) continue;
    if (shown.includes(entry.path)) continue;
    if (entry.kind === "directory") tmpfs.push(entry.path);
    else if (entry.kind === "file") inaccessible.push(entry.path);
  }
  return {
    binds,
    tmpfs,
    inaccessible,
    readWritePaths,
    execDirectories: launcher.execDirectories,
    protectHome: everything
      ? "no"
      : shown.some((path) => HOME_PATHS.some((home) => isInside(path, home)))
      ? "tmpfs"
      : "yes",
    specialBits,
  };
}

/**
 * What the launcher reads or writes before it starts the server: the config file and the TLS
 * files, read-only; the state directory and the audit log's directory, writable. A directory
 * directly under `/var/lib` or `/var/log` becomes `StateDirectory=`/`LogsDirectory=` (systemd
 * creates it, owned by the service's user); another one is bound.
 */
function launcherPaths(
  config: DaemonConfig,
  configPath: string,
): { binds: ServiceBind[]; writableDirs: string[]; execDirectories: string[] } {
  const binds: ServiceBind[] = [
    { path: configPath, writable: false, why: "the configuration", optional: true },
  ];
  for (const [path, why] of [[config.tlsCert, "tls_cert"], [config.tlsKey, "tls_key"]] as const) {
    if (path !== null) binds.push({ path, writable: false, why, optional: true });
  }
  const execDirectories: string[] = [];
  const writableDirs = [config.stateDir];
  const stateName = childOf(config.stateDir, "/var/lib");
  if (stateName !== null) {
    execDirectories.push(`StateDirectory=${stateName}`, "StateDirectoryMode=0700");
  } else {
    binds.push({ path: config.stateDir, writable: true, why: "state_dir", optional: true });
  }
  const auditDir = config.auditLog === null ? null : dirname(config.auditLog);
  if (auditDir !== null && auditDir !== config.stateDir) {
    writableDirs.push(auditDir);
    const logsName = childOf(auditDir, "/var/log");
    if (logsName !== null) {
      execDirectories.push(`LogsDirectory=${logsName}`, "LogsDirectoryMode=0750");
    } else {
      binds.push({
        path: auditDir,
        writable: true,
        why: "the audit log's directory",
        optional: true,
      });
    }
  }
  return { binds, writableDirs, execDirectories };
}

/** The name of `path` when it is a direct child of `parent` (`/var/lib/blit` → `blit`). */
function childOf(path: string, parent: string): string | null {
  const rest = path.startsWith(`${parent}/`) ? path.slice(parent.length + 1) : "";
  return rest !== "" && !rest.includes("/") ? rest : null;
}

function dirname(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

function isInside(path: string, parent: string): boolean {
  return path === parent || parent === "/" || path.startsWith(`${parent}/`);
}
