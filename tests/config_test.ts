import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
  strictEqual,
  throws as assertThrows,
} from "node:assert/strict";
import {
  applyDaemonOverrides,
  configWarnings,
  type DaemonConfig,
  defaultStateDir,
  isBindAddress,
  keepsOwners,
  loadDaemonConfig,
  type ModuleConfig,
  parseDaemonConfig,
  resolveDaemonPaths,
  validateExports,
} from "../core/config.ts";
import { formatSshPublicKey } from "../core/identity.ts";

const SOURCE = "/etc/blit/blitd.toml";
const OPTIONS = { baseDir: "/etc/blit", source: SOURCE, env: { HOME: "/home/blit" } };
const STATE = "/home/blit/.local/state/blit";
const RAW_A = new Uint8Array(32).fill(1);
const RAW_B = new Uint8Array(32).fill(2);
const KEY_A = `blit-ed25519 ${RAW_A.toBase64()} alice@laptop`;
const KEY_B = `blit-ed25519 ${RAW_B.toBase64()}`;

/** A module as the parser returns it for an anonymous, read-only export. */
function module(name: string, path: string, patch: Partial<ModuleConfig> = {}): ModuleConfig {
  return {
    name,
    path,
    readOnly: true,
    comment: "",
    users: null,
    anonymousWrite: false,
    list: true,
    keepSpecialBits: false,
    keepOwner: false,
    ...patch,
  };
}

/** The defaults of the new `[daemon]` keys, for {@linkcode OPTIONS}. */
const SECURITY_DEFAULTS = {
  tls: true,
  tlsCert: null,
  tlsKey: null,
  stateDir: STATE,
  hostsAllow: null,
  hostsDeny: [],
  maxConnections: 256,
  maxConnectionsPerHost: 64,
  auditLog: null,
  users: [],
  rootUsers: null,
  rootAnonymousWrite: false,
  rootKeepSpecialBits: false,
  rootKeepOwner: false,
  confinement: "auto",
};

/** Asserts that `fn` throws `type` with a one-line message matching `pattern`. */
function assertOneLineError(
  fn: () => unknown,
  type: new (...args: never[]) => Error,
  pattern: RegExp,
): void {
  assertThrows(fn, (error: unknown) => {
    strictEqual(error instanceof type, true, `expected ${type.name}, got ${String(error)}`);
    const message = (error as Error).message;
    strictEqual(message.includes("\n"), false, message);
    strictEqual(pattern.test(message), true, message);
    return true;
  });
}

Deno.test("parseDaemonConfig()", async (t) => {
  await t.step("fills in defaults for an empty file", () => {
    assertEquals(parseDaemonConfig("", OPTIONS), {
      bind: "0.0.0.0",
      port: 9031,
      motd: "",
      noMdns: false,
      mdnsName: null,
      root: null,
      rootReadOnly: true,
      modules: [],
      forceGrpcData: false,
      source: SOURCE,
      ...SECURITY_DEFAULTS,
    });
    strictEqual(parseDaemonConfig("").source, null);
  });

  await t.step("reads every key", () => {
    const text = `
[daemon]
bind = "::"
port = 9100
motd = "hello"
no_mdns = true
mdns_name = "nas"
root = "/srv/share"
root_read_only = true
root_users = ["alice", "bob:ro"]
tls = true
tls_cert = "tls/cert.pem"
tls_key = "/etc/ssl/blit.key"
state_dir = "state"
hosts_allow = ["10.0.0.0/8", "::1/128"]
hosts_deny = ["10.0.9.0/24"]
max_connections = 100
max_connections_per_host = 10
audit_log = "/var/log/blit/audit.jsonl"
root_keep_special_bits = true
root_keep_owner = true

[[user]]
name = "alice"
public_key = "${KEY_A}"

[[user]]
name = "bob"
public_key = ["${KEY_B}", "${formatSshPublicKey(RAW_A, "bob@old")}"]

[[module]]
name = "photos"
path = "/srv/photos/"
read_only = true
comment = "family"
users = ["alice", "bob:ro"]
list = false

[[module]]
name = "in.box_2-x"
path = "incoming/./new"
anonymous_write = true
list = true

[[module]]
name = "team"
path = "/srv/team"
read_only = false
users = ["bob:rw"]
keep_special_bits = true
keep_owner = true
`;
    assertEquals(parseDaemonConfig(text, OPTIONS), {
      bind: "::",
      port: 9100,
      motd: "hello",
      noMdns: true,
      mdnsName: "nas",
      root: "/srv/share",
      rootReadOnly: true,
      modules: [
        module("photos", "/srv/photos", {
          comment: "family",
          users: [{ name: "alice", readOnly: false }, { name: "bob", readOnly: true }],
          list: false,
        }),
        module("in.box_2-x", "/etc/blit/incoming/new", { readOnly: false, anonymousWrite: true }),
        module("team", "/srv/team", {
          readOnly: false,
          users: [{ name: "bob", readOnly: false }],
          keepSpecialBits: true,
          keepOwner: true,
        }),
      ],
      forceGrpcData: false,
      source: SOURCE,
      tls: true,
      tlsCert: "/etc/blit/tls/cert.pem",
      tlsKey: "/etc/ssl/blit.key",
      stateDir: "/etc/blit/state",
      hostsAllow: ["10.0.0.0/8", "::1/128"],
      hostsDeny: ["10.0.9.0/24"],
      maxConnections: 100,
      maxConnectionsPerHost: 10,
      auditLog: "/var/log/blit/audit.jsonl",
      users: [
        { name: "alice", publicKeys: [KEY_A] },
        { name: "bob", publicKeys: [KEY_B, `blit-ed25519 ${RAW_A.toBase64()} bob@old`] },
      ],
      rootUsers: [{ name: "alice", readOnly: false }, { name: "bob", readOnly: true }],
      rootAnonymousWrite: false,
      rootKeepSpecialBits: true,
      rootKeepOwner: true,
      confinement: "auto",
    });
  });

  await t.step("makes anonymous exports read-only unless they allow anonymous writes", () => {
    const config = parseDaemonConfig(
      "[daemon]\nroot = '/srv'\n[[module]]\nname = 'a'\npath = '/a'\nread_only = false\n" +
        "[[module]]\nname = 'b'\npath = '/b'\nanonymous_write = true\n",
      OPTIONS,
    );
    strictEqual(config.rootReadOnly, true);
    assertEquals(config.modules.map((m) => m.readOnly), [true, false]);
    const writableRoot = parseDaemonConfig(
      "[daemon]\nroot = '/srv'\nroot_anonymous_write = true\n",
      OPTIONS,
    );
    strictEqual(writableRoot.rootReadOnly, false);
    strictEqual(writableRoot.rootAnonymousWrite, true);
  });

  await t.step("keeps read_only for modules with users", () => {
    const text = (extra: string): ModuleConfig | undefined =>
      parseDaemonConfig(
        `[[user]]\nname = "alice"\npublic_key = "${KEY_A}"\n` +
          `[[module]]\nname = "m"\npath = "/m"\nusers = ["alice"]\n${extra}`,
        OPTIONS,
      ).modules[0];
    strictEqual(text("")?.readOnly, false);
    strictEqual(text("read_only = true\n")?.readOnly, true);
    const closed = parseDaemonConfig("[[module]]\nname = 'm'\npath = '/m'\nusers = []\n", OPTIONS);
    assertEquals(closed.modules[0]?.users, []);
  });

  await t.step("picks the state directory from the environment", () => {
    const stateDir = (env: { XDG_STATE_HOME?: string; HOME?: string }): string =>
      parseDaemonConfig("", { env }).stateDir;
    strictEqual(stateDir({ XDG_STATE_HOME: "/x/state", HOME: "/home/a" }), "/x/state/blit");
    strictEqual(stateDir({ HOME: "/home/a" }), "/home/a/.local/state/blit");
    strictEqual(stateDir({ XDG_STATE_HOME: "", HOME: "/home/a" }), "/home/a/.local/state/blit");
    strictEqual(
      stateDir({ XDG_STATE_HOME: "relative", HOME: "/home/a" }),
      "/home/a/.local/state/blit",
    );
    strictEqual(stateDir({}), "/var/lib/blit");
    strictEqual(defaultStateDir({ HOME: "/h/" }), "/h/.local/state/blit");
  });

  await t.step("lowers the per-host default to max_connections", () => {
    const config = parseDaemonConfig("[daemon]\nmax_connections = 8\n", OPTIONS);
    strictEqual(config.maxConnections, 8);
    strictEqual(config.maxConnectionsPerHost, 8);
  });

  await t.step("turns tls off", () => {
    const config = parseDaemonConfig("[daemon]\ntls = false\n", OPTIONS);
    strictEqual(config.tls, false);
  });

  await t.step("resolves relative paths against baseDir", () => {
    const config = parseDaemonConfig('[daemon]\nroot = "../share"\n', { baseDir: "/etc/blit" });
    strictEqual(config.root, "/etc/share");
  });

  await t.step("turns TOML syntax errors into one line with the position", () => {
    assertOneLineError(
      () => parseDaemonConfig('[daemon]\nport = = 3\nbind = "x"\n', OPTIONS),
      SyntaxError,
      /^Cannot load config "\/etc\/blit\/blitd\.toml": invalid TOML at line 2, column \d+: .+, fix the TOML syntax$/,
    );
    assertOneLineError(
      () => parseDaemonConfig("[daemon]\nbind = 'a'\nbind = 'b'\n", OPTIONS),
      SyntaxError,
      /line 3/,
    );
  });

  await t.step("rejects invalid content with a message naming the key and the file", () => {
    const cases: [string, RegExp][] = [
      ["[daemon]\nprot = 1\n", /unknown key "daemon\.prot", remove it or use one of: bind, port/],
      ["[deamon]\n", /unknown key "deamon", remove it or use one of: daemon, user, module/],
      [
        "[[module]]\nname = 'a'\npath = '/a'\nreadonly = true\n",
        /unknown key "readonly" in module #1/,
      ],
      ["daemon = 3\n", /"daemon" must be a table/],
      ["[module]\nname = 'a'\n", /"module" must be an array of tables, write each module as/],
      [
        "[daemon]\nport = '9031'\n",
        /"daemon\.port" must be an integer from 0 to 65535, not a string/,
      ],
      ["[daemon]\nport = 70000\n", /"daemon\.port" must be an integer .* not 70000/],
      ["[daemon]\nport = -1\n", /not -1/],
      ["[daemon]\nport = 1.5\n", /not 1\.5/],
      ["[daemon]\nbind = 1\n", /"daemon\.bind" must be a string, not an integer/],
      ["[daemon]\nbind = 'nas.local'\n", /"daemon\.bind" value "nas\.local" is not an IP address/],
      ["[daemon]\nno_mdns = 'yes'\n", /"daemon\.no_mdns" must be a boolean, not a string/],
      ["[daemon]\nmdns_name = ''\n", /must be 1 to 63 bytes long/],
      ["[daemon]\nroot = ''\n", /"daemon\.root" is empty/],
      ["[daemon]\nroot = '~/share'\n", /starts with "~".*not expanded/],
      ["[daemon]\nroot_read_only = 1\n", /"daemon\.root_read_only" must be a boolean/],
      ["[[module]]\npath = '/a'\n", /module #1 has no name/],
      ["[[module]]\nname = ''\npath = '/a'\n", /module #1 has no name/],
      ["[[module]]\nname = 'a b'\npath = '/a'\n", /module #1 name "a b" is invalid/],
      ["[[module]]\nname = '..'\npath = '/a'\n", /module #1 name "\.\." is invalid/],
      ["[[module]]\nname = 'a'\n", /module "a" has no path/],
      ["[[module]]\nname = 'a'\npath = 3\n", /module "a" key "path" must be a string/],
      ["[[module]]\nname = 'a'\npath = '/a'\nread_only = 'no'\n", /"read_only" must be a boolean/],
      [
        "[[module]]\nname = 'a'\npath = '/a'\n[[module]]\nname = 'a'\npath = '/b'\n",
        /module name "a" is used twice/,
      ],
      ["__proto__ = 1\n", /invalid TOML|unknown key/],
      ["[daemon]\ntls = 'yes'\n", /"daemon\.tls" must be a boolean/],
      ["[daemon]\ntls_cert = '/c.pem'\n", /"daemon\.tls_cert" is set without "daemon\.tls_key"/],
      ["[daemon]\ntls_key = '/k.pem'\n", /"daemon\.tls_key" is set without "daemon\.tls_cert"/],
      [
        "[daemon]\ntls = false\ntls_cert = '/c'\ntls_key = '/k'\n",
        /are set but "daemon\.tls" is false, remove them or set tls = true/,
      ],
      ["[daemon]\ntls_cert = ''\ntls_key = '/k'\n", /"daemon\.tls_cert" is empty/],
      ["[daemon]\nstate_dir = 3\n", /"daemon\.state_dir" must be a string, not an integer/],
      ["[daemon]\nstate_dir = '~/state'\n", /"daemon\.state_dir" "~\/state" starts with "~"/],
      ["[daemon]\naudit_log = ''\n", /"daemon\.audit_log" is empty/],
      [
        "[daemon]\nhosts_allow = '10.0.0.0/8'\n",
        /"daemon\.hosts_allow" must be an array of strings/,
      ],
      ["[daemon]\nhosts_deny = [1]\n", /"daemon\.hosts_deny" must be an array of strings/],
      [
        "[daemon]\nhosts_allow = ['10.0.0.0/33']\n",
        /"daemon\.hosts_allow" entry "10\.0\.0\.0\/33" is not an address or network, write it like/,
      ],
      ["[daemon]\nhosts_deny = ['nas.local']\n", /"daemon\.hosts_deny" entry "nas\.local"/],
      [
        "[daemon]\nmax_connections = 0\n",
        /"daemon\.max_connections" must be an integer from 1 to 100000, not 0/,
      ],
      ["[daemon]\nmax_connections = 100001\n", /not 100001/],
      ["[daemon]\nmax_connections = '5'\n", /not a string/],
      [
        "[daemon]\nmax_connections = 10\nmax_connections_per_host = 11\n",
        /"daemon\.max_connections_per_host" must be an integer from 1 to 10, not 11, keep it at most/,
      ],
      ["[daemon]\nmax_connections_per_host = 0\n", /max_connections_per_host" must be/],
      ["[daemon]\nroot_anonymous_write = 1\n", /"daemon\.root_anonymous_write" must be a boolean/],
      ["[daemon]\nroot_users = 'alice'\n", /"daemon\.root_users" must be an array of strings/],
      [
        "[daemon]\nroot_users = ['carol']\n",
        /"daemon\.root_users" names the user "carol", who is not declared, add a \[\[user\]\]/,
      ],
      [
        `[daemon]\nroot_users = ['alice']\nroot_anonymous_write = true\n` +
        `[[user]]\nname = 'alice'\npublic_key = '${KEY_A}'\n`,
        /the default root sets both root_users and root_anonymous_write = true, root_anonymous_write applies only to a root without root_users; remove one/,
      ],
      [
        "[daemon]\nroot_read_only = true\nroot_anonymous_write = true\n",
        /the default root sets both root_read_only = true and root_anonymous_write = true/,
      ],
      [
        "[user]\nname = 'a'\n",
        /"user" must be an array of tables, write each user as \[\[user\]\]/,
      ],
      [`[[user]]\npublic_key = '${KEY_A}'\n`, /user #1 has no name/],
      [`[[user]]\nname = 'a b'\npublic_key = '${KEY_A}'\n`, /user #1 name "a b" is invalid/],
      ["[[user]]\nname = 'a'\n", /user "a" has no public_key, add public_key = /],
      [
        "[[user]]\nname = 'a'\npublic_key = []\n",
        /user "a" key "public_key" must be a string or a non-empty array of strings, not an empty array/,
      ],
      ["[[user]]\nname = 'a'\npublic_key = 3\n", /not an integer/],
      ["[[user]]\nname = 'a'\nkey = 'x'\n", /unknown key "key" in user #1/],
      [
        "[[user]]\nname = 'a'\npublic_key = 'ssh-rsa AAAAB3NzaC1yc2E x@y'\n",
        /user "a" public_key "ssh-rsa AAAAB3NzaC1yc2E x@y" cannot be read \(the key type "ssh-rsa" is not supported\), give a blit-ed25519 line/,
      ],
      [
        "[[user]]\nname = 'a'\npublic_key = ['blit-ed25519 AAAA']\n",
        /cannot be read \(the key is 3 bytes long, not 32\)/,
      ],
      [
        `[[user]]\nname = 'a'\npublic_key = '${KEY_A}'\n[[user]]\nname = 'a'\npublic_key = '${KEY_B}'\n`,
        /user name "a" is used twice/,
      ],
      [
        "[[module]]\nname = 'm'\npath = '/m'\nusers = ['bob']\n",
        /module "m" key "users" names the user "bob", who is not declared, add a \[\[user\]\] with name = "bob"/,
      ],
      [
        `[[user]]\nname = 'bob'\npublic_key = '${KEY_B}'\n` +
        "[[module]]\nname = 'm'\npath = '/m'\nusers = ['bob', 'bob:ro']\n",
        /module "m" key "users" lists the user "bob" twice/,
      ],
      [
        "[[module]]\nname = 'm'\npath = '/m'\nusers = ['bob:admin']\n",
        /module "m" key "users" entry "bob:admin" is invalid/,
      ],
      ["[[module]]\nname = 'm'\npath = '/m'\nusers = 'bob'\n", /must be an array of strings/],
      [
        `[[user]]\nname = 'bob'\npublic_key = '${KEY_B}'\n` +
        "[[module]]\nname = 'm'\npath = '/m'\nusers = ['bob']\nanonymous_write = true\n",
        /module "m" sets both users and anonymous_write = true, anonymous_write applies only to a module without users; remove one/,
      ],
      [
        "[[module]]\nname = 'm'\npath = '/m'\nread_only = true\nanonymous_write = true\n",
        /module "m" sets both read_only = true and anonymous_write = true/,
      ],
      [
        "[[module]]\nname = 'm'\npath = '/m'\nlist = 'no'\n",
        /module "m" key "list" must be a boolean/,
      ],
    ];
    for (const [text, pattern] of cases) {
      assertThrows(() => parseDaemonConfig(text, OPTIONS), (error: unknown) => {
        strictEqual(error instanceof Error, true);
        const message = (error as Error).message;
        strictEqual(message.startsWith(`Cannot load config "${SOURCE}": `), true, message);
        strictEqual(message.includes("\n"), false, message);
        strictEqual(pattern.test(message), true, `${JSON.stringify(text)}: ${message}`);
        return true;
      });
    }
  });
});

Deno.test("isBindAddress()", async (t) => {
  await t.step("accepts IP literals and localhost", () => {
    for (
      const text of ["0.0.0.0", "127.0.0.1", "255.255.255.255", "::", "::1", "fe80::1", "localhost"]
    ) {
      strictEqual(isBindAddress(text), true, text);
    }
  });
  await t.step("rejects host names and malformed addresses", () => {
    for (const text of ["", "nas", "256.0.0.1", "1.2.3", "[::1]", ":::1:::", "1.2.3.4:80", "a,b"]) {
      strictEqual(isBindAddress(text), false, text);
    }
  });
});

Deno.test("applyDaemonOverrides()", async (t) => {
  const base = parseDaemonConfig(
    "[daemon]\nport = 9100\nmdns_name = 'file'\n[[module]]\nname = 'm'\npath = '/m'\n",
    OPTIONS,
  );

  await t.step("lets flags win over the file", () => {
    const config = applyDaemonOverrides(base, {
      bind: "127.0.0.1",
      port: 0,
      root: "/srv/x/../share",
      noMdns: true,
      mdnsName: "flag",
      forceGrpcData: true,
    });
    assertEquals(
      { ...config, modules: base.modules },
      {
        ...base,
        bind: "127.0.0.1",
        port: 0,
        root: "/srv/share",
        noMdns: true,
        mdnsName: "flag",
        forceGrpcData: true,
      },
    );
    strictEqual(base.port, 9100, "the input is not modified");
  });

  await t.step("keeps file values for absent flags", () => {
    assertEquals(applyDaemonOverrides(base, {}), base);
  });

  await t.step("makes a relative root absolute against the current directory", () => {
    strictEqual(applyDaemonOverrides(base, { root: "share" }).root, `${Deno.cwd()}/share`);
  });

  await t.step("applies the TLS, state and audit flags", () => {
    const config = applyDaemonOverrides(base, {
      tlsCert: "/etc/c.pem",
      tlsKey: "k.pem",
      stateDir: "state",
      auditLog: "/var/log/a.jsonl",
    });
    strictEqual(config.tlsCert, "/etc/c.pem");
    strictEqual(config.tlsKey, `${Deno.cwd()}/k.pem`);
    strictEqual(config.stateDir, `${Deno.cwd()}/state`);
    strictEqual(config.auditLog, "/var/log/a.jsonl");
    strictEqual(config.tls, true);
  });

  await t.step("--no-tls wins over a certificate from the file", () => {
    const withCert = parseDaemonConfig(
      "[daemon]\ntls_cert = '/c.pem'\ntls_key = '/k.pem'\n",
      OPTIONS,
    );
    const config = applyDaemonOverrides(withCert, { tls: false });
    assertEquals([config.tls, config.tlsCert, config.tlsKey], [false, null, null]);
    const key = applyDaemonOverrides(withCert, { tlsKey: "/other.key" });
    assertEquals([key.tlsCert, key.tlsKey], ["/c.pem", "/other.key"]);
  });

  await t.step("rejects invalid flag values", () => {
    assertOneLineError(
      () => applyDaemonOverrides(base, { tls: false, tlsCert: "/c.pem" }),
      TypeError,
      /^Cannot use --tls-cert with --no-tls: drop one of them$/,
    );
    assertOneLineError(
      () => applyDaemonOverrides(base, { tlsCert: "/c.pem" }),
      TypeError,
      /^Cannot use --tls-cert without --tls-key: give both/,
    );
    assertOneLineError(
      () => applyDaemonOverrides(base, { tlsKey: "/k.pem" }),
      TypeError,
      /^Cannot use --tls-key without --tls-cert/,
    );
    assertOneLineError(
      () =>
        applyDaemonOverrides(parseDaemonConfig("[daemon]\ntls = false\n", OPTIONS), {
          tlsCert: "/c",
          tlsKey: "/k",
        }),
      TypeError,
      /^Cannot use --tls-cert: the config file sets tls = false/,
    );
    assertOneLineError(
      () => applyDaemonOverrides(base, { stateDir: "" }),
      TypeError,
      /--state-dir ""/,
    );
    assertOneLineError(
      () => applyDaemonOverrides(base, { auditLog: "a\0b" }),
      TypeError,
      /--audit-log/,
    );
    assertOneLineError(
      () => applyDaemonOverrides(base, { port: 65536 }),
      TypeError,
      /--port 65536/,
    );
    assertOneLineError(
      () => applyDaemonOverrides(base, { bind: "nas" }),
      TypeError,
      /--bind "nas"/,
    );
    assertOneLineError(() => applyDaemonOverrides(base, { root: "" }), TypeError, /--root ""/);
    assertOneLineError(
      () => applyDaemonOverrides(base, { mdnsName: "x".repeat(64) }),
      TypeError,
      /--mdns-name/,
    );
  });
});

Deno.test("configWarnings()", async (t) => {
  await t.step("names anonymous writes, plain sessions and an empty allow list", () => {
    const config = parseDaemonConfig(
      "[daemon]\ntls = false\nroot = '/srv'\nroot_anonymous_write = true\nhosts_allow = []\n" +
        "[[module]]\nname = 'drop'\npath = '/drop'\nanonymous_write = true\n" +
        "[[module]]\nname = 'pub'\npath = '/pub'\n",
      OPTIONS,
    );
    assertEquals(configWarnings(config), [
      "the default root allows anonymous writes (root_anonymous_write = true): anyone who can " +
      "reach this daemon can change it",
      'module "drop" allows anonymous writes (anonymous_write = true): anyone who can reach ' +
      "this daemon can change it",
      "tls = false: sessions are not encrypted",
      "hosts_allow = []: no address may connect",
    ]);
  });
  await t.step("names writable exports that keep special bits", () => {
    const config = parseDaemonConfig(
      "[[user]]\nname = 'alice'\npublic_key = '" + KEY_A + "'\n" +
        "[daemon]\nroot = '/srv'\nroot_users = ['alice']\nroot_keep_special_bits = true\n" +
        "[[module]]\nname = 'k'\npath = '/k'\nusers = ['alice']\nkeep_special_bits = true\n" +
        "[[module]]\nname = 'ro'\npath = '/ro'\nkeep_special_bits = true\n",
      OPTIONS,
    );
    assertEquals(configWarnings(config), [
      "the default root keeps setuid, setgid and sticky bits (root_keep_special_bits = true): " +
      "its writers can plant setuid programs",
      'module "k" keeps setuid, setgid and sticky bits (keep_special_bits = true): its writers ' +
      "can plant setuid programs",
    ]);
  });
  await t.step("names keep_owner without effect when blitd is not root", () => {
    const config = parseDaemonConfig(
      "[daemon]\nroot = '/srv'\nroot_keep_owner = true\n" +
        "[[module]]\nname = 'o'\npath = '/o'\nkeep_owner = true\n" +
        "[[module]]\nname = 'p'\npath = '/p'\n",
      OPTIONS,
    );
    assertEquals(configWarnings(config, { runsAsRoot: false }), [
      "the default root: root_keep_owner has no effect: blitd is not running as root",
      'module "o": keep_owner has no effect: blitd is not running as root',
    ]);
    assertEquals(configWarnings(config, { runsAsRoot: true }), []);
    assertEquals(configWarnings(config), []);
  });
  await t.step("is empty for the safe defaults", () => {
    assertEquals(
      configWarnings(parseDaemonConfig("[[module]]\nname = 'a'\npath = '/a'\n", OPTIONS)),
      [],
    );
    assertEquals(
      configWarnings(applyDaemonOverrides(parseDaemonConfig("", OPTIONS), { root: "/srv" })),
      [],
    );
  });
});

Deno.test("parseDaemonConfig(): keep_special_bits is off unless said, and must be a boolean", () => {
  const config = parseDaemonConfig(
    "[daemon]\nroot = '/srv'\n[[module]]\nname = 'a'\npath = '/a'\n" +
      "[[module]]\nname = 'k'\npath = '/k'\nkeep_special_bits = true\n",
    OPTIONS,
  );
  strictEqual(config.rootKeepSpecialBits, false);
  assertEquals(config.modules.map((m) => m.keepSpecialBits), [false, true]);
  assertOneLineError(
    () => parseDaemonConfig("[[module]]\nname = 'a'\npath = '/a'\nkeep_special_bits = 1\n"),
    TypeError,
    /module "a" key "keep_special_bits" must be a boolean, not an integer/,
  );
  assertOneLineError(
    () => parseDaemonConfig("[daemon]\nroot_keep_special_bits = 'yes'\n"),
    TypeError,
    /"daemon\.root_keep_special_bits" must be a boolean/,
  );
});

Deno.test("parseDaemonConfig(): keep_owner is off unless said, and must be a boolean", () => {
  const config = parseDaemonConfig(
    "[daemon]\nroot = '/srv'\n[[module]]\nname = 'a'\npath = '/a'\n" +
      "[[module]]\nname = 'o'\npath = '/o'\nkeep_owner = true\n" +
      "[[module]]\nname = 'f'\npath = '/f'\nkeep_owner = false\n",
    OPTIONS,
  );
  strictEqual(config.rootKeepOwner, false);
  assertEquals(config.modules.map((m) => m.keepOwner), [false, true, false]);
  strictEqual(keepsOwners(config), true);
  strictEqual(
    parseDaemonConfig("[daemon]\nroot = '/srv'\nroot_keep_owner = true\n", OPTIONS).rootKeepOwner,
    true,
  );
  assertOneLineError(
    () => parseDaemonConfig("[[module]]\nname = 'a'\npath = '/a'\nkeep_owner = 'yes'\n"),
    TypeError,
    /module "a" key "keep_owner" must be a boolean, not a string/,
  );
  assertOneLineError(
    () => parseDaemonConfig("[daemon]\nroot_keep_owner = 1\n"),
    TypeError,
    /"daemon\.root_keep_owner" must be a boolean/,
  );
});

Deno.test("parseDaemonConfig(): values that can never work are refused with one line", async (t) => {
  const module = (extra: string): string => `[[module]]\nname = 'm'\npath = '/m'\n${extra}\n`;
  const refused = (text: string, pattern: RegExp): void =>
    assertOneLineError(() => parseDaemonConfig(text, OPTIONS), TypeError, pattern);
  await t.step("motd: at most 4 KiB, newlines and tabs only", () => {
    strictEqual(parseDaemonConfig(`[daemon]\nmotd = "${"x".repeat(4096)}"\n`).motd.length, 4096);
    strictEqual(parseDaemonConfig('[daemon]\nmotd = "a\\n\\tb"\n').motd, "a\n\tb");
    refused(
      `[daemon]\nmotd = "${"x".repeat(1024 * 1024)}"\n`,
      /^Cannot load config "\/etc\/blit\/blitd\.toml": "daemon\.motd" is 1048576 bytes long, more than 4096, shorten it to at most 4096 bytes$/,
    );
    refused(
      '[daemon]\nmotd = "\\u001b[2J"\n',
      /"daemon\.motd" holds the control character U\+001B/,
    );
    refused('[daemon]\nmotd = "a\\rb"\n', /"daemon\.motd" holds the control character U\+000D/);
    refused('[daemon]\nmotd = "\\u0085"\n', /"daemon\.motd" holds the control character U\+0085/);
  });
  await t.step("comment: at most 1 KiB on one line", () => {
    refused(module(`comment = "${"c".repeat(1025)}"`), /module "m" comment is 1025 bytes long/);
    refused(module('comment = "two\\nlines"'), /module "m" comment holds the control character/);
  });
  await t.step("names: at most 64 characters, not echoed in full", () => {
    const long = "n".repeat(65);
    refused(
      `[[module]]\nname = '${long}'\npath = '/m'\n`,
      /module #1 name "n{60}…" is 65 characters/,
    );
    refused(
      `[[user]]\nname = '${long}'\npublic_key = '${KEY_A}'\n`,
      /user #1 name "n{60}…" is 65 characters long, use at most 64/,
    );
    refused(
      '[daemon]\nmdns_name = "nas\\u0007"\n',
      /"daemon\.mdns_name" holds a control character/,
    );
  });
  await t.step("paths: at most 4095 bytes", () => {
    refused(module("").replace("'/m'", `'/${"p".repeat(4095)}'`), /module "m" path is 4096 bytes/);
    refused(`[daemon]\nstate_dir = "/${"s".repeat(5000)}"\n`, /"daemon\.state_dir" is 5001 bytes/);
  });
  await t.step("counts: modules, users, keys and address rules", () => {
    const modules = Array.from(
      { length: 1025 },
      (_, i) => `[[module]]\nname = 'm${i}'\npath = '/m'\n`,
    );
    refused(
      modules.join(""),
      /\[\[module\]\] has 1025 entries, more than 1024, export fewer modules/,
    );
    const keys = JSON.stringify(Array.from({ length: 33 }, () => KEY_A));
    refused(`[[user]]\nname = 'a'\npublic_key = ${keys}\n`, /user "a" public_key has 33 entries/);
    refused(
      `[[user]]\nname = 'a'\npublic_key = "${KEY_A} ${"c".repeat(1100)}"\n`,
      /user "a" has a public_key line of \d+ characters/,
    );
    const rules = JSON.stringify(Array.from({ length: 1025 }, () => "10.0.0.0/8"));
    refused(`[daemon]\nhosts_allow = ${rules}\n`, /"daemon\.hosts_allow" has 1025 entries/);
  });
  await t.step("the whole configuration: at most 1 MiB once parsed", () => {
    const comment = "c".repeat(1000);
    const modules = Array.from(
      { length: 1024 },
      (_, i) => `[[module]]\nname = 'm${i}'\npath = '/m'\ncomment = '${comment}'\n`,
    );
    refused(modules.join(""), /the configuration is \d+ bytes once parsed, more than 1048576/);
  });
  await t.step("flags: paths of at most 4095 bytes", () => {
    assertOneLineError(
      () => applyDaemonOverrides(parseDaemonConfig(""), { root: `/${"r".repeat(4095)}` }),
      TypeError,
      /^Cannot use --root "\/r{59}…": give the path of an existing directory$/,
    );
  });
});

Deno.test("validateExports()", async (t) => {
  await t.step("rejects a daemon that exports nothing", () => {
    assertOneLineError(
      () => validateExports(parseDaemonConfig("")),
      TypeError,
      /^Cannot start: no modules configured and no root; add a \[\[module\]\] or pass --root PATH$/,
    );
  });
  await t.step("accepts a root alone or modules alone", () => {
    validateExports(applyDaemonOverrides(parseDaemonConfig(""), { root: "/srv" }));
    validateExports(parseDaemonConfig("[[module]]\nname = 'm'\npath = '/m'\n"));
  });
});

Deno.test("loadDaemonConfig()", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blit-" });
  try {
    const real = await Deno.realPath(dir);
    await Deno.mkdir(`${dir}/photos`);
    await Deno.mkdir(`${dir}/share`);
    await Deno.writeTextFile(`${dir}/file.txt`, "x");
    await Deno.symlink(`${dir}/photos`, `${dir}/link`);

    await t.step("reads the file and resolves paths relative to it", async () => {
      const path = `${dir}/blitd.toml`;
      await Deno.writeTextFile(
        path,
        "[daemon]\nroot = 'share'\n[[module]]\nname = 'p'\npath = 'link'\nread_only = true\n",
      );
      const config: DaemonConfig = await loadDaemonConfig(path);
      strictEqual(config.root, `${real}/share`);
      assertEquals(config.modules, [module("p", `${real}/photos`)]);
      strictEqual(config.source, path);
    });

    await t.step("reports a missing file clearly", async () => {
      await assertRejects(loadDaemonConfig(`${dir}/nope.toml`), (error: unknown) => {
        strictEqual(error instanceof Deno.errors.NotFound, true);
        strictEqual(
          (error as Error).message,
          `Cannot load config "${dir}/nope.toml": the file does not exist, create it or pass the right path`,
        );
        return true;
      });
    });

    await t.step("rejects a module path that is missing or not a directory", async () => {
      const path = `${dir}/bad.toml`;
      await Deno.writeTextFile(path, "[[module]]\nname = 'm'\npath = 'missing'\n");
      await assertRejects(loadDaemonConfig(path), (error: unknown) => {
        strictEqual(error instanceof Deno.errors.NotFound, true);
        strictEqual(
          (error as Error).message,
          `Cannot load config "${path}": module "m" path "${dir}/missing" does not exist, ` +
            "create the directory or fix the path",
        );
        return true;
      });
      await Deno.writeTextFile(path, "[daemon]\nroot = 'file.txt'\n");
      await assertRejects(loadDaemonConfig(path), (error: unknown) => {
        strictEqual(error instanceof Deno.errors.NotADirectory, true);
        strictEqual(/root ".*file\.txt" is not a directory/.test((error as Error).message), true);
        return true;
      });
    });

    await t.step(
      "resolves the TLS files, the audit log's directory and the state directory",
      async () => {
        await Deno.writeTextFile(`${dir}/cert.pem`, "c");
        await Deno.writeTextFile(`${dir}/key.pem`, "k");
        await Deno.mkdir(`${dir}/state`);
        await Deno.symlink(`${dir}/share`, `${dir}/logs`);
        const path = `${dir}/tls.toml`;
        await Deno.writeTextFile(
          path,
          "[daemon]\nroot = 'share'\ntls_cert = 'cert.pem'\ntls_key = 'key.pem'\n" +
            "state_dir = 'state'\naudit_log = 'logs/audit.jsonl'\n",
        );
        const config = await loadDaemonConfig(path);
        strictEqual(config.tlsCert, `${real}/cert.pem`);
        strictEqual(config.tlsKey, `${real}/key.pem`);
        strictEqual(config.stateDir, `${real}/state`);
        strictEqual(config.auditLog, `${real}/share/audit.jsonl`);
        await Deno.writeTextFile(
          path,
          "[daemon]\nroot = 'share'\nstate_dir = 'not-yet'\n",
        );
        strictEqual((await loadDaemonConfig(path)).stateDir, `${dir}/not-yet`);
        await Deno.writeTextFile(path, "[daemon]\nroot = 'share'\n");
        strictEqual(
          (await loadDaemonConfig(path, { env: { XDG_STATE_HOME: "/nonexistent/s" } })).stateDir,
          "/nonexistent/s/blit",
        );
      },
    );

    await t.step("rejects missing TLS files and a missing audit log directory", async () => {
      const path = `${dir}/bad-tls.toml`;
      await Deno.writeTextFile(
        path,
        "[daemon]\nroot = 'share'\ntls_cert = 'nope.pem'\ntls_key = 'file.txt'\n",
      );
      await assertRejects(loadDaemonConfig(path), (error: unknown) => {
        strictEqual(error instanceof Deno.errors.NotFound, true);
        strictEqual(
          (error as Error).message,
          `Cannot load config "${path}": tls_cert "${dir}/nope.pem" does not exist, ` +
            "create the file or fix the path",
        );
        return true;
      });
      await Deno.writeTextFile(
        path,
        "[daemon]\nroot = 'share'\ntls_cert = 'share'\ntls_key = 'file.txt'\n",
      );
      await assertRejects(loadDaemonConfig(path), /tls_cert ".*share" is not a file/);
      await Deno.writeTextFile(path, "[daemon]\nroot = 'share'\naudit_log = 'no/dir/a.jsonl'\n");
      await assertRejects(loadDaemonConfig(path), /audit_log directory ".*no\/dir" does not exist/);
      await Deno.writeTextFile(path, "[daemon]\nroot = 'share'\naudit_log = 'share'\n");
      await assertRejects(loadDaemonConfig(path), /audit_log ".*share" is not a file/);
      await Deno.writeTextFile(path, "[daemon]\nroot = 'share'\nstate_dir = 'file.txt'\n");
      await assertRejects(loadDaemonConfig(path), /state_dir ".*file\.txt" is not a directory/);
    });

    await t.step("resolveDaemonPaths() resolves a root given by flag", async () => {
      const config = await resolveDaemonPaths(
        applyDaemonOverrides(parseDaemonConfig(""), { root: `${dir}/link` }),
      );
      strictEqual(config.root, `${real}/photos`);
      await assertRejects(
        resolveDaemonPaths(applyDaemonOverrides(parseDaemonConfig(""), { root: `${dir}/nope` })),
        /^NotFound: Cannot start: root ".*nope" does not exist/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
