import { deepStrictEqual as assertEquals, strictEqual } from "node:assert/strict";
import {
  type Access,
  accessOf,
  type AccessRules,
  anyoneMayWrite,
  moduleRules,
  rootRules,
} from "../core/access.ts";
import { applyDaemonOverrides, parseDaemonConfig } from "../core/config.ts";

const KEY = `blit-ed25519 ${new Uint8Array(32).fill(9).toBase64()}`;
const USERS = `[[user]]\nname = "alice"\npublic_key = "${KEY}"\n` +
  `[[user]]\nname = "bob"\npublic_key = "${KEY}"\n`;
const ENV = { env: { HOME: "/home/blit" } };

/** The access of an anonymous caller, alice and bob, in that order. */
function table(rules: AccessRules): Access[] {
  return [accessOf(rules, null), accessOf(rules, "alice"), accessOf(rules, "bob")];
}

Deno.test("accessOf()", async (t) => {
  await t.step("gives everyone read access to an anonymous export", () => {
    assertEquals(table({ users: null, readOnly: false, anonymousWrite: false }), [
      "read",
      "read",
      "read",
    ]);
    assertEquals(table({ users: null, readOnly: true, anonymousWrite: false }), [
      "read",
      "read",
      "read",
    ]);
  });

  await t.step("gives everyone write access only with anonymous writes and not read-only", () => {
    assertEquals(table({ users: null, readOnly: false, anonymousWrite: true }), [
      "write",
      "write",
      "write",
    ]);
    assertEquals(table({ users: null, readOnly: true, anonymousWrite: true }), [
      "read",
      "read",
      "read",
    ]);
  });

  await t.step("gives listed users their access and everyone else none", () => {
    const users = [{ name: "alice", readOnly: false }];
    assertEquals(table({ users, readOnly: false, anonymousWrite: false }), [
      "none",
      "write",
      "none",
    ]);
    assertEquals(
      table({
        users: [{ name: "alice", readOnly: false }, { name: "bob", readOnly: true }],
        readOnly: false,
        anonymousWrite: false,
      }),
      ["none", "write", "read"],
    );
  });

  await t.step("makes a read-only export read-only for listed users too", () => {
    assertEquals(
      table({ users: [{ name: "alice", readOnly: false }], readOnly: true, anonymousWrite: false }),
      ["none", "read", "none"],
    );
  });

  await t.step("ignores anonymous writes on an export with users", () => {
    assertEquals(
      table({ users: [{ name: "alice", readOnly: true }], readOnly: false, anonymousWrite: true }),
      ["none", "read", "none"],
    );
  });

  await t.step("gives nobody access to an export with an empty user list", () => {
    assertEquals(table({ users: [], readOnly: false, anonymousWrite: false }), [
      "none",
      "none",
      "none",
    ]);
  });
});

Deno.test("anyoneMayWrite()", async (t) => {
  await t.step("is true exactly when some caller gets write access", () => {
    const cases: [AccessRules, boolean][] = [
      [{ users: null, readOnly: false, anonymousWrite: false }, false],
      [{ users: null, readOnly: false, anonymousWrite: true }, true],
      [{ users: null, readOnly: true, anonymousWrite: true }, false],
      [{ users: [], readOnly: false, anonymousWrite: false }, false],
      [{ users: [{ name: "a", readOnly: true }], readOnly: false, anonymousWrite: false }, false],
      [{ users: [{ name: "a", readOnly: false }], readOnly: false, anonymousWrite: false }, true],
      [{ users: [{ name: "a", readOnly: false }], readOnly: true, anonymousWrite: false }, false],
    ];
    for (const [rules, expected] of cases) {
      strictEqual(anyoneMayWrite(rules), expected, JSON.stringify(rules));
    }
  });
});

Deno.test("moduleRules() and rootRules()", async (t) => {
  await t.step("make a module without users anonymous and read-only by default", () => {
    const config = parseDaemonConfig(
      "[[module]]\nname = 'pub'\npath = '/srv/pub'\nread_only = false\n",
      ENV,
    );
    const [pub] = config.modules;
    strictEqual(pub === undefined, false);
    if (pub) assertEquals(table(moduleRules(pub)), ["read", "read", "read"]);
  });

  await t.step("let anonymous_write open a module to everyone", () => {
    const config = parseDaemonConfig(
      "[[module]]\nname = 'drop'\npath = '/srv/drop'\nanonymous_write = true\n",
      ENV,
    );
    for (const module of config.modules) {
      assertEquals(table(moduleRules(module)), ["write", "write", "write"]);
    }
  });

  await t.step("apply users and :ro", () => {
    const config = parseDaemonConfig(
      `${USERS}[[module]]\nname = 'team'\npath = '/srv/team'\nusers = ["alice", "bob:ro"]\n` +
        `[[module]]\nname = 'archive'\npath = '/srv/archive'\nusers = ["alice"]\n` +
        "read_only = true\n",
      ENV,
    );
    assertEquals(config.modules.map((module) => table(moduleRules(module))), [
      ["none", "write", "read"],
      ["none", "read", "none"],
    ]);
  });

  await t.step("make `blitd --root DIR` alone anonymous and read-only", () => {
    const config = applyDaemonOverrides(parseDaemonConfig("", ENV), { root: "/srv/share" });
    assertEquals(table(rootRules(config)), ["read", "read", "read"]);
    strictEqual(anyoneMayWrite(rootRules(config)), false);
  });

  await t.step("apply root_users, root_read_only and root_anonymous_write", () => {
    const users = parseDaemonConfig(
      `${USERS}[daemon]\nroot = '/srv'\nroot_users = ["bob:ro", "alice"]\n`,
      ENV,
    );
    assertEquals(table(rootRules(users)), ["none", "write", "read"]);
    const frozen = parseDaemonConfig(
      `${USERS}[daemon]\nroot = '/srv'\nroot_users = ["alice"]\nroot_read_only = true\n`,
      ENV,
    );
    assertEquals(table(rootRules(frozen)), ["none", "read", "none"]);
    const open = parseDaemonConfig("[daemon]\nroot = '/srv'\nroot_anonymous_write = true\n", ENV);
    assertEquals(table(rootRules(open)), ["write", "write", "write"]);
  });
});
