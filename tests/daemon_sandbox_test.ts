import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { Operation, Role, type ServerFrame } from "../proto/gen/blit_pb.ts";
import { openRawSession, startDaemon } from "./_daemon.ts";
import { makeTree, readTree, REPO, runBlit, withTempDir } from "./_helpers.ts";

/** Opens a raw Transfer session with exactly the given Open fields; returns every frame seen. */
async function rawOpen(
  address: string,
  open: { role: Role; module: string; path: string; sourceName?: string },
): Promise<NonNullable<ServerFrame["frame"]>[]> {
  const { client, call, port, open: sendOpen } = await openRawSession(address);
  try {
    await sendOpen({
      role: open.role,
      module: open.module,
      path: open.path,
      operation: Operation.COPY,
      forceGrpcData: true,
    });
    const frames: NonNullable<ServerFrame["frame"]>[] = [];
    while (true) {
      const frame = await port.nextRaw(10_000);
      if (!frame || frame.case === undefined) break;
      frames.push(frame);
      if (frame.case === "refuse" || frame.case === "error" || frame.case === "accept") break;
    }
    call.end();
    return frames;
  } finally {
    client.close();
  }
}

function refusalText(frames: NonNullable<ServerFrame["frame"]>[]): string {
  const last = frames[frames.length - 1];
  if (last?.case === "refuse" || last?.case === "error") return last.value.message;
  return `no refusal: ${frames.map((f) => f.case).join(",")}`;
}

Deno.test({
  name: "daemon sandbox: each layer refuses escapes on its own",
  sanitizeResources: false,
  fn: async (t) => {
    await withTempDir(async (dir) => {
      await makeTree(dir, {
        "mod/in.txt": "inside",
        "ro/keep.txt": "keep",
        "outside/secret.txt": "secret",
        "src/new.txt": "new",
      });
      const modules = [
        { name: "mod", path: `${dir}/mod` },
        { name: "ro", path: `${dir}/ro`, readOnly: true },
      ];
      const before = await readTree(`${dir}/outside`);

      await t.step("in-code layer: the real daemon refuses '..' paths", async () => {
        const daemon = await startDaemon(dir, modules);
        try {
          const pull = await rawOpen(daemon.address, {
            role: Role.SOURCE,
            module: "mod",
            path: "../outside/secret.txt",
          });
          equal(pull[pull.length - 1]?.case, "refuse");
          match(refusalText(pull), /\.\./);
          const push = await rawOpen(daemon.address, {
            role: Role.DESTINATION,
            module: "mod",
            path: "../outside/",
          });
          equal(push[push.length - 1]?.case, "refuse");
        } finally {
          await daemon.stop();
        }
      });

      await t.step(
        "OS layer: with the in-code checks off, Deno's permissions still refuse",
        async () => {
          const daemon = await startDaemon(dir, modules, [], {
            BLITD_SERVER_ENTRY: `${REPO}/tests/fixtures/unconfined_server.ts`,
          });
          try {
            const pull = await rawOpen(daemon.address, {
              role: Role.SOURCE,
              module: "mod",
              path: "../outside/secret.txt",
            });
            ok(!pull.some((f) => f.case === "accept"), "no session over an outside path");
            match(refusalText(pull), /read access|NotCapable|Requires/i);
            const push = await rawOpen(daemon.address, {
              role: Role.DESTINATION,
              module: "mod",
              path: "../outside/planted/",
            });
            ok(!push.some((f) => f.case === "accept"), "no session writing outside");
            // Read-only module: the in-code READ_ONLY check is off in this build, and the server
            // has no write permission there, so the push fails without writing anything.
            const r = await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/ro/x/`]);
            ok(r.code !== 0, r.stderr);
            deepStrictEqual(Object.keys(await readTree(`${dir}/ro`)), ["keep.txt"]);
            // A normal transfer inside the module still works in this build.
            const ok2 = await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/mod/y/`]);
            equal(ok2.code, 0, ok2.stderr);
            equal(await Deno.readTextFile(`${dir}/mod/y/new.txt`), "new");
          } finally {
            await daemon.stop();
          }
        },
      );
      deepStrictEqual(await readTree(`${dir}/outside`), before, "nothing outside changed");
    });
  },
});
