import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { listenFiltered } from "../core/transport/goaway_filter.ts";
import { create } from "@bufbuild/protobuf";
import {
  AcceptSchema,
  type ClientFrame,
  ClientFrameSchema,
  HelloSchema,
  ListDirRequestSchema,
  ListDirResponseSchema,
  ListModulesRequestSchema,
  ListModulesResponseSchema,
  ModuleInfoSchema,
  OpenSchema,
  Role,
  type ServerFrame,
  ServerFrameSchema,
} from "../proto/gen/blit_pb.ts";
import {
  BLIT_SERVICE,
  blitChannelOptions,
  type BlitClient,
  BlitClientClass,
  type BlitServer,
  blitServerOptions,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
} from "../core/transport/grpc_service.ts";

function unimplemented(_call: unknown, callback: grpc.sendUnaryData<never>): void {
  callback({ code: grpc.status.UNIMPLEMENTED, details: "Cannot serve: not implemented" });
}

function endStream(call: { end(): void }): void {
  call.end();
}

/** A minimal daemon: two modules, an echoing ListDir, and a Transfer that accepts any Open. */
const testServer: BlitServer = {
  listModules(_call, callback) {
    callback(
      null,
      create(ListModulesResponseSchema, {
        modules: [
          create(ModuleInfoSchema, { name: "backup", readOnly: false, comment: "nightly" }),
          create(ModuleInfoSchema, { name: "media", readOnly: true, comment: "" }),
        ],
      }),
    );
  },
  listDir(call, callback) {
    callback(null, create(ListDirResponseSchema, { truncated: call.request.path.length > 0 }));
  },
  transfer(call) {
    call.on("data", (frame: ClientFrame) => {
      if (frame.frame.case !== "open") return;
      call.write(
        create(ServerFrameSchema, {
          frame: {
            case: "accept",
            value: create(AcceptSchema, {
              protocolVersion: PROTOCOL_VERSION,
              dataPort: 0,
              sessionToken: new Uint8Array(32).fill(7),
              motd: `hello ${frame.frame.value.module}`,
            }),
          },
        }),
      );
    });
    call.on("end", () => call.end());
    call.on("error", () => {});
  },
  find: endStream,
  diskUsage: endStream,
  diskFree: unimplemented,
  remove: unimplemented,
  completePath: unimplemented,
  challenge: unimplemented,
};

const listeners = new WeakMap<grpc.Server, { close(): void }>();

/** Serves like the daemon does: connections pass the GOAWAY filter (see goaway_filter.ts). */
async function startServer(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(blitServerOptions());
  server.addService(BLIT_SERVICE, testServer);
  const { listener, port } = await listenFiltered(server, grpc.ServerCredentials.createInsecure(), {
    hostname: "127.0.0.1",
    port: 0,
  });
  listeners.set(server, listener);
  return { server, port };
}

async function stopServer(server: grpc.Server): Promise<void> {
  listeners.get(server)?.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
}

function listModules(client: BlitClient): Promise<ReturnType<typeof unwrapModules>> {
  return new Promise((resolve, reject) => {
    client.listModules(
      create(ListModulesRequestSchema),
      (err, res) => err || !res ? reject(err) : resolve(unwrapModules(res.modules)),
    );
  });
}

function unwrapModules(
  modules: { name: string; readOnly: boolean; comment: string }[],
): { name: string; readOnly: boolean; comment: string }[] {
  return modules.map(({ name, readOnly, comment }) => ({ name, readOnly, comment }));
}

function listDirError(client: BlitClient, path: string): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    client.listDir(create(ListDirRequestSchema, { module: "m", path }), (err) => resolve(err));
  });
}

Deno.test("BLIT_SERVICE", async (t) => {
  await t.step("has one method per RPC with blit.v1 paths and stream flags", () => {
    const summary = Object.entries(BLIT_SERVICE).map(([key, m]) => [
      key,
      m.path,
      m.requestStream,
      m.responseStream,
    ]);
    assertEquals(summary, [
      ["transfer", "/blit.v1.Blit/Transfer", true, true],
      ["listModules", "/blit.v1.Blit/ListModules", false, false],
      ["listDir", "/blit.v1.Blit/ListDir", false, false],
      ["find", "/blit.v1.Blit/Find", false, true],
      ["diskUsage", "/blit.v1.Blit/DiskUsage", false, true],
      ["diskFree", "/blit.v1.Blit/DiskFree", false, false],
      ["remove", "/blit.v1.Blit/Remove", false, false],
      ["completePath", "/blit.v1.Blit/CompletePath", false, false],
      ["challenge", "/blit.v1.Blit/Challenge", false, false],
    ]);
  });

  await t.step("serializes frames with the protobuf binary format", () => {
    const method = BLIT_SERVICE.transfer;
    const frame = create(ClientFrameSchema, {
      frame: { case: "hello", value: create(HelloSchema, { protocolVersion: 1, clientName: "t" }) },
    });
    const bytes = method.requestSerialize(frame);
    assertEquals([...bytes], [10, 5, 8, 1, 18, 1, 116]);
    const back = method.requestDeserialize(bytes);
    assertEquals(back.frame.case, "hello");
    assertEquals(back.frame.value?.clientName, "t");
  });
});

Deno.test("BlitClientClass talks to a grpc-js server over 127.0.0.1", async (t) => {
  const { server, port } = await startServer();
  const client = new BlitClientClass(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
    blitChannelOptions(),
  );
  try {
    await t.step("round-trips ListModules", async () => {
      assertEquals(await listModules(client), [
        { name: "backup", readOnly: false, comment: "nightly" },
        { name: "media", readOnly: true, comment: "" },
      ]);
    });

    await t.step("opens a Transfer and receives Accept", async () => {
      const call = client.transfer();
      const frames: ServerFrame[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        call.on("data", (frame: ServerFrame) => frames.push(frame));
        call.on("end", () => resolve());
        call.on("error", reject);
      });
      call.write(
        create(ClientFrameSchema, {
          frame: { case: "hello", value: create(HelloSchema, { protocolVersion: 1 }) },
        }),
      );
      call.write(
        create(ClientFrameSchema, {
          frame: {
            case: "open",
            value: create(OpenSchema, { role: Role.DESTINATION, module: "backup" }),
          },
        }),
      );
      call.end();
      await ended;
      assertEquals(frames.length, 1);
      const first = frames[0];
      assert(first !== undefined && first.frame.case === "accept");
      assertEquals(first.frame.value.protocolVersion, PROTOCOL_VERSION);
      assertEquals(first.frame.value.motd, "hello backup");
      assertEquals(first.frame.value.sessionToken.length, 32);
    });

    await t.step("refuses to send a message over MAX_MESSAGE_BYTES", async () => {
      const err = await listDirError(client, "x".repeat(MAX_MESSAGE_BYTES + 1));
      assertEquals(err?.code, grpc.status.RESOURCE_EXHAUSTED);
    });

    await t.step("has the server reject a message over MAX_MESSAGE_BYTES", async () => {
      const loose = new BlitClientClass(
        `127.0.0.1:${port}`,
        grpc.credentials.createInsecure(),
        { "grpc.max_send_message_length": 2 * MAX_MESSAGE_BYTES },
      );
      try {
        const err = await listDirError(loose, "x".repeat(MAX_MESSAGE_BYTES + 1));
        assertEquals(err?.code, grpc.status.RESOURCE_EXHAUSTED);
        assertEquals(await listDirError(loose, ""), null);
      } finally {
        loose.close();
      }
    });
  } finally {
    client.close();
    await stopServer(server);
  }
});
