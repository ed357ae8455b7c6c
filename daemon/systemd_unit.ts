/**
 * The systemd service unit of `blitd`, computed from the configuration: the file system of
 * blitd's own namespace (daemon/systemd_view.ts, from the policy of daemon/confinement.ts) as
 * `ProtectSystem=strict`, `TemporaryFileSystem=`, `BindPaths=`, `BindReadOnlyPaths=` and
 * `ReadWritePaths=`; the launcher started with the flags of the `blitd` task and
 * `--confinement systemd`; and hardening a file server keeps working under: no new privileges,
 * no capabilities (root keeps {@linkcode ROOT_CAPABILITIES}), a system-call allow list, only
 * the address families it uses, and `hosts_allow`/`hosts_deny` as a packet filter. Not set:
 * `MemoryDenyWriteExecute=` (V8 compiles code at run time) and `PrivateUsers=` (files of other
 * owners, their groups and root's capabilities must keep working).
 *
 * @module
 */

import { type Cidr, formatCidr, parseCidr } from "../core/cidr.ts";
import { type DaemonConfig, shutdownGraceOf } from "../core/config.ts";
import { type NamespaceLayout, ROOT_CAPABILITIES } from "./confinement.ts";
import { STOP_MARGIN_MS } from "./supervisor.ts";
import { computeServiceView, type ServiceView, type TopLevelEntry } from "./systemd_view.ts";

/** What {@linkcode renderSystemdUnit} needs besides the configuration. */
export interface SystemdUnitInputs {
  /** Absolute real path of the config file (the launcher reads it). */
  configPath: string;
  /** The service's user: `root`, or a user name such as `blit`. */
  user: string;
  /** The runtime, the code and the system entries (see daemon/confinement.ts). */
  layout: NamespaceLayout;
  /** The host's top-level entries; the directories not needed become empty tmpfs. */
  topLevel: readonly TopLevelEntry[];
  /** The `deno run` flags of the `blitd` task in deno.json. */
  launcherFlags: readonly string[];
  /** Deno's cache directory for the service (`DENO_DIR`), absolute. */
  denoDir: string;
}

/** Default user of the service. */
export const DEFAULT_SERVICE_USER = "blit";

/** Default Deno cache of the service (prepared before the first start). */
export const DEFAULT_SERVICE_DENO_DIR = "/var/cache/blit/deno";

/** `XDG_STATE_HOME` of the service, so that the default state directory is `/var/lib/blit`. */
export const SERVICE_STATE_HOME = "/var/lib";

/** Exit code with which blitd says that restarting would not help (see daemon/supervisor.ts). */
const EXIT_NO_RESTART = 78;

/**
 * Renders the service unit.
 *
 * Requires nothing: it only computes text (see daemon/systemd_unit_cli.ts for the command).
 *
 * @example Usage
 * ```ts
 * import { match } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { renderSystemdUnit } from "./systemd_unit.ts";
 * const config = parseDaemonConfig(
 *   "[daemon]\nstate_dir = '/var/lib/blit'\naudit_log = '/var/log/blit/audit.jsonl'\n" +
 *     "[[module]]\nname = 'pub'\npath = '/srv/pub'\n" +
 *     "[[module]]\nname = 'inbox'\npath = '/srv/inbox'\nanonymous_write = true\n",
 * );
 * const unit = renderSystemdUnit(config, {
 *   configPath: "/etc/blit/config.toml",
 *   user: "blit",
 *   layout: {
 *     repoRoot: "/opt/blit",
 *     serverEntry: "/opt/blit/daemon/server.ts",
 *     deno: "/usr/bin/deno",
 *     denoDir: "/var/cache/blit/deno",
 *     system: [{ path: "/usr", link: null }, { path: "/lib", link: "usr/lib" }],
 *     etc: ["/etc/hosts"],
 *   },
 *   topLevel: [
 *     { path: "/etc", kind: "directory" },
 *     { path: "/opt", kind: "directory" },
 *     { path: "/srv", kind: "directory" },
 *     { path: "/usr", kind: "directory" },
 *     { path: "/var", kind: "directory" },
 *   ],
 *   launcherFlags: ["--allow-read"],
 *   denoDir: "/var/cache/blit/deno",
 * });
 * match(unit, /^ExecStart=\/usr\/bin\/deno run --allow-read \/opt\/blit\/daemon\/main\.ts --config \/etc\/blit\/config\.toml --confinement systemd$/m);
 * match(unit, /^TemporaryFileSystem=\/etc:ro \/opt:ro \/srv:ro \/var:ro$/m);
 * match(unit, /^BindReadOnlyPaths=-\/srv\/pub$/m);
 * match(unit, /^BindPaths=-\/srv\/inbox$/m);
 * match(unit, /^ReadWritePaths=-\/srv\/inbox -\/var\/lib\/blit -\/var\/log\/blit$/m);
 * match(unit, /^StateDirectory=blit$/m);
 * match(unit, /^User=blit$/m);
 * ```
 *
 * @param config The final configuration (paths resolved).
 * @param inputs The config file, the user, the host's layout and the launcher's flags.
 * @throws {TypeError} If a path holds a character a unit cannot carry (a quote, a backslash, a
 * colon or a control character), or the user name is not one systemd accepts.
 * @returns The unit file's text.
 */
export function renderSystemdUnit(config: DaemonConfig, inputs: SystemdUnitInputs): string {
  const { layout, user } = inputs;
  if (!isServiceUser(user)) {
    throw new TypeError(
      `Cannot use the user name ${JSON.stringify(user)}: give a name such as blit (letters, ` +
        "digits, _ and -, starting with a letter or _, at most 31 characters)",
    );
  }
  const view = computeServiceView(config, inputs);
  checkUnitPath(inputs.configPath, "the configuration");
  checkUnitPath(layout.deno, "the Deno executable");
  checkUnitPath(layout.repoRoot, "blit's checkout");
  checkUnitPath(inputs.denoDir, "Deno's cache directory");
  for (const bind of view.binds) checkUnitPath(bind.path, bind.why);
  for (const path of [...view.tmpfs, ...view.inaccessible]) {
    checkUnitPath(path, "the top-level entry");
  }
  return [
    ...header(inputs),
    "",
    ...service(inputs, view, shutdownGraceOf(config)),
    "",
    ...fileSystem(view),
    "",
    ...privileges(config, user === "root", view),
    "",
    ...kernel(user === "root"),
    "",
    ...network(config),
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** The comment at the top: where the unit comes from, how to renew it, what to prepare. */
function header(inputs: SystemdUnitInputs): string[] {
  const { configPath, user, denoDir, layout } = inputs;
  const userFlag = user === DEFAULT_SERVICE_USER ? "" : ` --user ${user}`;
  return [
    "# blitd.service: generated by `blitd systemd-unit` from the configuration",
    `#   ${configPath}`,
    "# Do not edit it: change the configuration, then generate the unit again and reload:",
    `#   cd ${layout.repoRoot} && deno task -q blitd systemd-unit --config ${configPath}${userFlag} \\`,
    "#     > /etc/systemd/system/blitd.service",
    "#   systemctl daemon-reload && systemctl restart blitd",
    "#",
    "# Before the first start, and after every update of blit or Deno (as root):",
    ...(user === "root" ? [] : [
      `#   useradd --system --home-dir ${SERVICE_STATE_HOME}/blit --shell /usr/sbin/nologin ${user}`,
      `#   (${user} must be able to read the read-only exports and write the writable ones)`,
    ]),
    `#   cd ${layout.repoRoot} && DENO_DIR=${denoDir} deno install && \\`,
    `#     DENO_DIR=${denoDir} deno cache daemon/main.ts daemon/server.ts`,
    "#",
    "# The service sees what blitd's own mount namespace holds (daemon/confinement.ts): the",
    "# system directories, the Deno runtime and blit's code, read-only; the configuration and",
    "# the TLS files read-only and the state directory and the audit log's directory writable,",
    "# for the launcher; writable exports read-write and read-only exports read-only. Every",
    "# other top-level directory is an empty read-only tmpfs. blitd runs with --confinement",
    "# systemd: this unit is its namespace. `systemd-analyze security blitd` rates the rest.",
  ];
}

/** `[Unit]` and the start of `[Service]`: the command, its environment, stopping, restarting. */
function service(inputs: SystemdUnitInputs, view: ServiceView, graceMs: number): string[] {
  const { layout } = inputs;
  const execStart = [
    layout.deno,
    "run",
    ...inputs.launcherFlags,
    `${layout.repoRoot}/daemon/main.ts`,
    "--config",
    inputs.configPath,
    "--confinement",
    "systemd",
  ].map((word) => unitWord(word, true)).join(" ");
  const readme = `file://${encodeURI(`${layout.repoRoot}/README.md`)}`;
  const path = [...new Set([dirname(layout.deno), "/usr/local/bin", "/usr/bin", "/bin"])];
  return [
    "[Unit]",
    "Description=blit file transfer daemon",
    `Documentation=${unitWord(readme, false)}`,
    "After=network-online.target",
    "Wants=network-online.target",
    "StartLimitIntervalSec=300",
    "StartLimitBurst=5",
    "",
    "[Service]",
    "Type=simple",
    `User=${inputs.user}`,
    `WorkingDirectory=${unitWord(layout.repoRoot, false)}`,
    `ExecStart=${execStart}`,
    "# Deno's cache (read-only below); PATH finds the same deno for the server (--allow-run=deno);",
    `# the default state_dir is ${SERVICE_STATE_HOME}/blit.`,
    `Environment=${unitWord(`DENO_DIR=${inputs.denoDir}`, false)}`,
    `Environment=${unitWord(`PATH=${path.join(":")}`, false)}`,
    `Environment=XDG_STATE_HOME=${SERVICE_STATE_HOME}`,
    "Environment=NO_COLOR=1",
    ...view.execDirectories,
    "",
    "# Stopping: SIGTERM goes to the launcher only; it stops the server and exits with its code.",
    `# Running sessions may finish for shutdown_grace (${
      graceMs / 1000
    } s); the launcher kills a server still`,
    `# running ${STOP_MARGIN_MS / 1000} s after that, systemd ${UNIT_STOP_MARGIN_S} s later.`,
    "KillMode=mixed",
    "KillSignal=SIGTERM",
    `TimeoutStopSec=${stopTimeoutSeconds(graceMs)}`,
    "# blitd restarts a crashed server itself; systemd restarts blitd when it gives up. Exit",
    `# ${EXIT_NO_RESTART}: the configuration can never work (a port in use, a missing export).`,
    "Restart=on-failure",
    "RestartSec=5s",
    `RestartPreventExitStatus=${EXIT_NO_RESTART}`,
  ];
}

/** Seconds systemd waits beyond the launcher's own kill timeout before it kills blitd. */
const UNIT_STOP_MARGIN_S = 5;

/**
 * The unit's `TimeoutStopSec` for a shutdown grace: longer than the grace plus the launcher's
 * margin, so that systemd never kills a daemon still finishing its sessions.
 */
function stopTimeoutSeconds(graceMs: number): number {
  return Math.ceil((graceMs + STOP_MARGIN_MS) / 1000) + UNIT_STOP_MARGIN_S;
}

/** The file system: the view of blitd's own namespace. */
function fileSystem(view: ServiceView): string[] {
  const lines = [
    "# The file system: the same view as blitd's own namespace.",
    "ProtectSystem=strict",
    ...(view.protectHome === "tmpfs"
      ? ["# Something below lies under /home, /root or /run/user: an empty tmpfs there."]
      : []),
    `ProtectHome=${view.protectHome}`,
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "PrivateMounts=yes",
    "ProtectProc=invisible",
    "ProcSubset=pid",
  ];
  if (view.tmpfs.length > 0) {
    lines.push(
      `TemporaryFileSystem=${view.tmpfs.map((p) => unitWord(`${p}:ro`, false)).join(" ")}`,
    );
  }
  if (view.inaccessible.length > 0) {
    lines.push(
      `InaccessiblePaths=${view.inaccessible.map((p) => unitWord(`-${p}`, false)).join(" ")}`,
    );
  }
  let previous = "";
  for (const bind of view.binds) {
    if (bind.path === "/") continue; // an export of "/": nothing to hide, ReadWritePaths= below
    const key = bind.writable ? "BindPaths" : "BindReadOnlyPaths";
    const word = unitWord(`${bind.optional ? "-" : ""}${bind.path}`, false);
    if (`${key} ${bind.why}` === previous) {
      lines[lines.length - 1] += ` ${word}`;
      continue;
    }
    previous = `${key} ${bind.why}`;
    lines.push(`# ${bind.why}`, `${key}=${word}`);
  }
  lines.push(
    "# Writable despite ProtectSystem=strict: writable exports, the state directory and the",
    "# audit log's directory.",
    `ReadWritePaths=${view.readWritePaths.map((p) => unitWord(`-${p}`, false)).join(" ")}`,
    "# 0022: the server cannot read its umask (no --allow-sys=umask) and assumes 0022, so a",
    "# stricter one would narrow the modes of pushed files (0644 would arrive as 0600).",
    "UMask=0022",
  );
  return lines;
}

/** The user's privileges: none beyond its own, or root's few capabilities. */
function privileges(config: DaemonConfig, root: boolean, view: ServiceView): string[] {
  const lines = ["# Privileges.", "NoNewPrivileges=yes"];
  if (view.specialBits.length > 0) {
    const which = view.specialBits.join(", ");
    lines.push(`# ${which}: keep_special_bits, so setuid/setgid bits must be settable.`);
    lines.push("RestrictSUIDSGID=no");
  } else {
    lines.push("RestrictSUIDSGID=yes");
  }
  if (root) {
    lines.push(
      "# root keeps only what a file server needs (as in blitd's own namespace).",
      `CapabilityBoundingSet=${ROOT_CAPABILITIES.join(" ")}`,
      "AmbientCapabilities=",
    );
  } else if (config.port > 0 && config.port < 1024) {
    lines.push(
      `# port ${config.port} is below 1024.`,
      "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
      "AmbientCapabilities=CAP_NET_BIND_SERVICE",
      "RemoveIPC=yes",
    );
  } else {
    lines.push("CapabilityBoundingSet=", "AmbientCapabilities=", "RemoveIPC=yes");
  }
  lines.push("# Not set: PrivateUsers= (files of other owners and groups must keep working).");
  return lines;
}

/** The kernel: no tunables, modules, logs, clock, namespaces; a system-call allow list. */
function kernel(root: boolean): string[] {
  return [
    "# The kernel.",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "LockPersonality=yes",
    "# Not set: MemoryDenyWriteExecute= (V8 compiles JavaScript to machine code at run time).",
    "SystemCallArchitectures=native",
    "# @pkey: V8 protects its compiled code with memory protection keys.",
    "SystemCallFilter=@system-service @pkey",
    root ? "SystemCallFilter=~@resources" : "SystemCallFilter=~@privileged @resources",
    "SystemCallErrorNumber=EPERM",
  ];
}

/** The network: the address families blitd uses, and its address rules as a packet filter. */
function network(config: DaemonConfig): string[] {
  const mdns = !config.noMdns;
  return [
    "# The network.",
    ...(mdns
      ? [
        "# AF_NETLINK: the mDNS advertiser lists the network interfaces.",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
      ]
      : ["RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"]),
    ...ipFirewall(config, mdns),
  ];
}

/**
 * Tells whether `name` is a user name the unit accepts: `root`, or the portable form systemd
 * accepts (letters, digits, `_` and `-`, starting with a letter or `_`, at most 31
 * characters).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { isServiceUser } from "./systemd_unit.ts";
 * strictEqual(isServiceUser("blit"), true);
 * strictEqual(isServiceUser("root"), true);
 * strictEqual(isServiceUser("Bad User"), false);
 * strictEqual(isServiceUser("1000"), false);
 * ```
 *
 * @param name The candidate.
 * @returns True when it can be written as `User=`.
 */
export function isServiceUser(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_-]{0,30}$/.test(name);
}

/**
 * The IP firewall from `hosts_allow` and `hosts_deny`: with `hosts_allow`, only those networks
 * (and multicast for mDNS) pass; without it, the `hosts_deny` networks are dropped. systemd lets
 * an allowed address through even when it is also denied, so with both lists only the allow
 * list is written (blitd still applies `hosts_deny` itself). An IPv6 rule that covers
 * IPv4-mapped addresses also gets its IPv4 form, as blitd matches IPv4 peers against it.
 */
function ipFirewall(config: DaemonConfig, mdns: boolean): string[] {
  if (config.hostsAllow !== null) {
    const allow = [...new Set(config.hostsAllow.flatMap(packetRules))];
    if (mdns) allow.push("multicast");
    return [
      "# hosts_allow, as a packet filter (blitd checks hosts_allow and hosts_deny itself too).",
      ...(allow.length > 0 ? [`IPAddressAllow=${allow.join(" ")}`] : []),
      "IPAddressDeny=any",
    ];
  }
  if (config.hostsDeny.length > 0) {
    return [
      "# hosts_deny, as a packet filter (blitd checks it itself too).",
      `IPAddressDeny=${[...new Set(config.hostsDeny.flatMap(packetRules))].join(" ")}`,
    ];
  }
  return [];
}

/** A rule as systemd writes it, plus the IPv4 form of the IPv4-mapped part of an IPv6 rule. */
function packetRules(rule: string): string[] {
  const cidr = parseCidr(rule);
  const rules = [formatCidr(cidr)];
  if (cidr.family === 6) {
    const mapped = new Uint8Array(16);
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    if (cidr.prefix <= 96) {
      if (prefixMatches(cidr, mapped)) rules.push("0.0.0.0/0");
    } else if (prefixMatches({ ...cidr, prefix: 96 }, mapped)) {
      const v4: Cidr = { family: 4, bytes: cidr.bytes.slice(12), prefix: cidr.prefix - 96 };
      rules.push(formatCidr(v4));
    }
  }
  return rules;
}

function prefixMatches(cidr: Cidr, bytes: Uint8Array): boolean {
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const mask = 0x80 >> (bit % 8);
    const index = Math.floor(bit / 8);
    if ((((cidr.bytes[index] ?? 0) ^ (bytes[index] ?? 0)) & mask) !== 0) return false;
  }
  return true;
}

/**
 * Checks that a path can be written into the unit: no quote, backslash, colon (the separator
 * of `BindPaths=`) or control character.
 */
function checkUnitPath(path: string, what: string): void {
  const control = [...path].some((char) => char.charCodeAt(0) < 0x20 || char === "\u007f");
  if (control || /["'\\:]/.test(path)) {
    throw new TypeError(
      `Cannot write ${what} ${JSON.stringify(path)} into a systemd unit: it holds a quote, a ` +
        "backslash, a colon or a control character; rename or move it",
    );
  }
}

/**
 * One word of a unit setting: `%` doubled (systemd's specifiers), `$` doubled on an `Exec`
 * line (its variables), and double quotes around a word with white space.
 */
function unitWord(word: string, exec: boolean): string {
  let text = word.replaceAll("%", "%%");
  if (exec) text = text.replaceAll("$", "$$$$");
  return /\s/.test(text) ? `"${text}"` : text;
}

function dirname(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}
