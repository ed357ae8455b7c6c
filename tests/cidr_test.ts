import { deepStrictEqual as assertEquals, strictEqual, throws } from "node:assert/strict";
import { AddressRules, cidrContains, formatCidr, parseCidr } from "../core/cidr.ts";

Deno.test("parseCidr()", async (t) => {
  await t.step("reads IPv4 and IPv6 networks and bare addresses", () => {
    assertEquals(formatCidr(parseCidr("10.0.0.0/8")), "10.0.0.0/8");
    assertEquals(formatCidr(parseCidr("192.168.1.7")), "192.168.1.7/32");
    assertEquals(formatCidr(parseCidr("0.0.0.0/0")), "0.0.0.0/0");
    assertEquals(formatCidr(parseCidr("::1/128")), "0:0:0:0:0:0:0:1/128");
    assertEquals(formatCidr(parseCidr("::1")), "0:0:0:0:0:0:0:1/128");
    assertEquals(formatCidr(parseCidr("fd00::/8")), "fd00:0:0:0:0:0:0:0/8");
    assertEquals(formatCidr(parseCidr("::/0")), "0:0:0:0:0:0:0:0/0");
    assertEquals(
      formatCidr(parseCidr("2001:DB8:0:0:1:2:3:4/64")),
      "2001:db8:0:0:0:0:0:0/64",
    );
    assertEquals(formatCidr(parseCidr("::ffff:10.0.0.0/104")), "0:0:0:0:0:ffff:a00:0/104");
    strictEqual(parseCidr("10.0.0.0/8").family, 4);
    strictEqual(parseCidr("fd00::/8").family, 6);
  });

  await t.step("clears host bits beyond the prefix", () => {
    assertEquals(formatCidr(parseCidr("10.1.2.3/8")), "10.0.0.0/8");
    assertEquals(formatCidr(parseCidr("10.1.2.3/20")), "10.1.0.0/20");
    assertEquals(formatCidr(parseCidr("fdff:1::1/9")), "fd80:0:0:0:0:0:0:0/9");
  });

  await t.step("rejects malformed rules with one line naming the rule and the fix", () => {
    const cases: [string, RegExp][] = [
      ["", /the address is missing/],
      ["/8", /the address is missing/],
      ["10.0.0.0/33", /the prefix "\/33" is not a number from 0 to 32/],
      ["::/129", /the prefix "\/129" is not a number from 0 to 128/],
      ["10.0.0.0/", /the prefix "\/" is not a number/],
      ["10.0.0.0/08", /the prefix "\/08"/],
      ["10.0.0.0/8/8", /the prefix "\/8\/8"/],
      ["10.0.0.0/-1", /the prefix/],
      ["256.0.0.0/8", /"256\.0\.0\.0" is not an IPv4 or IPv6 address/],
      ["10.0.0/8", /is not an IPv4 or IPv6 address/],
      ["010.0.0.0/8", /is not an IPv4 or IPv6 address/],
      ["nas.local", /is not an IPv4 or IPv6 address/],
      ["1:2:3:4:5:6:7:8:9", /is not an IPv4 or IPv6 address/],
      ["1::2::3", /is not an IPv4 or IPv6 address/],
      ["1:2:3:4:5:6:7::8", /is not an IPv4 or IPv6 address/],
      [":1", /is not an IPv4 or IPv6 address/],
      ["12345::", /is not an IPv4 or IPv6 address/],
      ["fe80::1%eth0", /a zone \(%…\) is not allowed in a rule/],
      [" 10.0.0.0/8", /is not an IPv4 or IPv6 address/],
    ];
    for (const [text, pattern] of cases) {
      throws(() => parseCidr(text), (error: unknown) => {
        strictEqual(error instanceof TypeError, true);
        const message = (error as Error).message;
        strictEqual(message.includes("\n"), false, message);
        strictEqual(
          message.startsWith(`Cannot read address rule ${JSON.stringify(text)}: `),
          true,
          message,
        );
        strictEqual(message.endsWith("; write it like 10.0.0.0/8 or fd00::/8"), true, message);
        strictEqual(pattern.test(message), true, `${text}: ${message}`);
        return true;
      });
    }
  });
});

Deno.test("cidrContains()", async (t) => {
  await t.step("matches IPv4 addresses inside the network only", () => {
    const lan = parseCidr("10.0.0.0/8");
    strictEqual(cidrContains(lan, "10.0.0.0"), true);
    strictEqual(cidrContains(lan, "10.255.255.255"), true);
    strictEqual(cidrContains(lan, "11.0.0.0"), false);
    strictEqual(cidrContains(lan, "9.255.255.255"), false);
    strictEqual(cidrContains(parseCidr("192.168.1.7"), "192.168.1.7"), true);
    strictEqual(cidrContains(parseCidr("192.168.1.7"), "192.168.1.8"), false);
    strictEqual(cidrContains(parseCidr("0.0.0.0/0"), "203.0.113.9"), true);
  });

  await t.step("matches IPv4-mapped IPv6 peers against IPv4 rules", () => {
    const lan = parseCidr("10.0.0.0/8");
    strictEqual(cidrContains(lan, "::ffff:10.1.2.3"), true);
    strictEqual(cidrContains(lan, "::FFFF:10.1.2.3"), true);
    strictEqual(cidrContains(lan, "::ffff:a01:203"), true);
    strictEqual(cidrContains(lan, "::ffff:11.1.2.3"), false);
    strictEqual(cidrContains(parseCidr("0.0.0.0/0"), "::1"), false);
  });

  await t.step("matches IPv6 addresses, ignoring zones and brackets", () => {
    const local = parseCidr("fe80::/10");
    strictEqual(cidrContains(local, "fe80::1"), true);
    strictEqual(cidrContains(local, "fe80::1%eth0"), true);
    strictEqual(cidrContains(local, "febf:ffff::1"), true);
    strictEqual(cidrContains(local, "fec0::1"), false);
    strictEqual(cidrContains(parseCidr("::1/128"), "::1"), true);
    strictEqual(cidrContains(parseCidr("::1/128"), "[::1]"), true);
    strictEqual(cidrContains(parseCidr("::1/128"), "0:0:0:0:0:0:0:1"), true);
    strictEqual(cidrContains(parseCidr("::1/128"), "::2"), false);
    strictEqual(cidrContains(parseCidr("::/0"), "2001:db8::1"), true);
    strictEqual(cidrContains(parseCidr("fd00::/8"), "10.0.0.1"), false);
  });

  await t.step("matches IPv4 peers against mapped IPv6 rules", () => {
    strictEqual(cidrContains(parseCidr("::ffff:0:0/96"), "10.0.0.1"), true);
    strictEqual(cidrContains(parseCidr("::ffff:10.0.0.0/104"), "10.9.9.9"), true);
    strictEqual(cidrContains(parseCidr("::ffff:10.0.0.0/104"), "11.0.0.1"), false);
  });

  await t.step("puts an unparsable address in no network", () => {
    for (const address of ["", "nas", "10.0.0", "10.0.0.1%eth0", "::g", "10.0.0.1:80"]) {
      strictEqual(cidrContains(parseCidr("0.0.0.0/0"), address), false, address);
      strictEqual(cidrContains(parseCidr("::/0"), address), false, address);
    }
  });
});

Deno.test("AddressRules", async (t) => {
  await t.step("allows any parsable address without allow rules", () => {
    const rules = new AddressRules(null, []);
    strictEqual(rules.allows("203.0.113.9"), true);
    strictEqual(rules.allows("2001:db8::1"), true);
  });

  await t.step("allows only listed networks", () => {
    const rules = new AddressRules(["10.0.0.0/8", "::1/128"], []);
    strictEqual(rules.allows("10.1.2.3"), true);
    strictEqual(rules.allows("::ffff:10.1.2.3"), true);
    strictEqual(rules.allows("::1"), true);
    strictEqual(rules.allows("127.0.0.1"), false);
    strictEqual(rules.allows("192.168.1.1"), false);
  });

  await t.step("lets deny win over allow", () => {
    const rules = new AddressRules(["10.0.0.0/8"], ["10.0.9.0/24"]);
    strictEqual(rules.allows("10.0.8.1"), true);
    strictEqual(rules.allows("10.0.9.1"), false);
    strictEqual(rules.allows("::ffff:10.0.9.1"), false);
    strictEqual(new AddressRules(null, ["::/0", "0.0.0.0/0"]).allows("10.0.0.1"), false);
  });

  await t.step("refuses everyone with an empty allow list", () => {
    strictEqual(new AddressRules([], []).allows("10.0.0.1"), false);
  });

  await t.step("refuses an unparsable peer address", () => {
    const rules = new AddressRules(null, []);
    for (const address of ["", "unknown", "10.0.0.256", "::1::"]) {
      strictEqual(rules.allows(address), false, address);
    }
  });

  await t.step("throws for a malformed rule", () => {
    throws(
      () => new AddressRules(["10.0.0.0/33"], []),
      /Cannot read address rule "10\.0\.0\.0\/33"/,
    );
    throws(() => new AddressRules(null, ["x"]), TypeError);
  });
});
