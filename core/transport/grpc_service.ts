/**
 * The grpc-js binding of the `blit.v1.Blit` service: method definitions built from the
 * protobuf-es schemas in `proto/gen/blit_pb.ts`, a typed client constructor, and the channel and
 * server options every blit endpoint uses.
 *
 * Under Deno 2.9 an HTTP/2 endpoint may abort inside nghttp2 when it *receives* a GOAWAY on a
 * connection that carried many streams or sat idle for minutes (denoland/deno#36788). Hence the
 * options here never make the daemon send GOAWAY (no connection ageing, no idle timeout), each
 * client object owns its connection, and clients should end by exiting rather than by a graceful
 * `close()` after many calls; the daemon additionally strips client GOAWAY frames before grpc-js
 * sees them.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { recordWireSize } from "./wire_size.ts";
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import {
  Blit,
  type ChallengeRequest,
  type ChallengeResponse,
  type ClientFrame,
  type CompletePathRequest,
  type CompletePathResponse,
  type DiskFreeRequest,
  type DiskFreeResponse,
  type DiskUsageEntry,
  type DiskUsageRequest,
  type FindRequest,
  type FindResult,
  type ListDirRequest,
  type ListDirResponse,
  type ListModulesRequest,
  type ListModulesResponse,
  type RemoveRequest,
  type RemoveResponse,
  type ServerFrame,
} from "../../proto/gen/blit_pb.ts";

export { MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from "./protocol.ts";
import { MAX_MESSAGE_BYTES } from "./protocol.ts";

/** A grpc-js method definition whose messages are protobuf-es messages. */
export type BlitMethodDefinition<I extends DescMessage, O extends DescMessage> =
  grpc.MethodDefinition<
    MessageShape<I>,
    MessageShape<O>
  >;

/** Handlers a daemon registers for `blit.v1.Blit` (keys are the camelCase method names). */
export interface BlitServer extends grpc.UntypedServiceImplementation {
  /** One transfer session. */
  transfer: grpc.handleBidiStreamingCall<ClientFrame, ServerFrame>;
  /** The exported modules. */
  listModules: grpc.handleUnaryCall<ListModulesRequest, ListModulesResponse>;
  /** One directory of a module. */
  listDir: grpc.handleUnaryCall<ListDirRequest, ListDirResponse>;
  /** Name search, streamed. */
  find: grpc.handleServerStreamingCall<FindRequest, FindResult>;
  /** Per-directory usage, streamed. */
  diskUsage: grpc.handleServerStreamingCall<DiskUsageRequest, DiskUsageEntry>;
  /** Filesystem capacity. */
  diskFree: grpc.handleUnaryCall<DiskFreeRequest, DiskFreeResponse>;
  /** Recursive removal. */
  remove: grpc.handleUnaryCall<RemoveRequest, RemoveResponse>;
  /** Remote path completion. */
  completePath: grpc.handleUnaryCall<CompletePathRequest, CompletePathResponse>;
  /** A nonce for signing the next admin call. */
  challenge: grpc.handleUnaryCall<ChallengeRequest, ChallengeResponse>;
}

/** Method shape accepted by {@linkcode methodDefinition}, as found in `Blit.method`. */
interface SchemaMethod<I extends DescMessage, O extends DescMessage> {
  readonly name: string;
  readonly methodKind: "unary" | "server_streaming" | "client_streaming" | "bidi_streaming";
  readonly input: I;
  readonly output: O;
}

function serializer<T extends DescMessage>(schema: T): grpc.serialize<MessageShape<T>> {
  return function serialize(value: MessageShape<T>): Buffer {
    const bytes = toBinary(schema, value);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<T extends DescMessage>(schema: T): grpc.deserialize<MessageShape<T>> {
  return function deserialize(bytes: Buffer): MessageShape<T> {
    const message = fromBinary(schema, bytes);
    recordWireSize(message, bytes.length);
    return message;
  };
}

/**
 * Builds the grpc-js definition of one method of `blit.v1.Blit` from its protobuf-es schema.
 *
 * @param method A method of the generated service, e.g. `Blit.method.listModules`.
 * @returns The definition, with protobuf binary (de)serializers for both directions.
 */
export function methodDefinition<I extends DescMessage, O extends DescMessage>(
  method: SchemaMethod<I, O>,
): BlitMethodDefinition<I, O> {
  const kind = method.methodKind;
  return {
    path: `/${Blit.typeName}/${method.name}`,
    requestStream: kind === "client_streaming" || kind === "bidi_streaming",
    responseStream: kind === "server_streaming" || kind === "bidi_streaming",
    requestSerialize: serializer(method.input),
    requestDeserialize: deserializer(method.input),
    responseSerialize: serializer(method.output),
    responseDeserialize: deserializer(method.output),
    originalName: method.name,
  };
}

/** The grpc-js service definition of `blit.v1.Blit`, typed by {@linkcode BlitServer}. */
export type BlitServiceDefinition = grpc.ServiceDefinition<BlitServer>;

/**
 * The grpc-js service definition of `blit.v1.Blit`: pass it to `server.addService()` with a
 * {@linkcode BlitServer}.
 */
export const BLIT_SERVICE: BlitServiceDefinition = {
  transfer: methodDefinition(Blit.method.transfer),
  listModules: methodDefinition(Blit.method.listModules),
  listDir: methodDefinition(Blit.method.listDir),
  find: methodDefinition(Blit.method.find),
  diskUsage: methodDefinition(Blit.method.diskUsage),
  diskFree: methodDefinition(Blit.method.diskFree),
  remove: methodDefinition(Blit.method.remove),
  completePath: methodDefinition(Blit.method.completePath),
  challenge: methodDefinition(Blit.method.challenge),
};

/** Signature of a unary client method (callback style, as grpc-js generates it). */
export interface UnaryMethod<Req, Res> {
  /** Sends `request`; `callback` receives the response or a `grpc.ServiceError`. */
  (request: Req, callback: grpc.requestCallback<Res>): grpc.ClientUnaryCall;
  /** Sends `request` with metadata. */
  (
    request: Req,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<Res>,
  ): grpc.ClientUnaryCall;
  /** Sends `request` with metadata and call options (deadline, signal-free cancel, ...). */
  (
    request: Req,
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    callback: grpc.requestCallback<Res>,
  ): grpc.ClientUnaryCall;
}

/** Signature of a server-streaming client method. */
export interface ServerStreamMethod<Req, Res> {
  /** Sends `request`; the returned stream yields the responses. */
  (
    request: Req,
    metadata?: grpc.Metadata,
    options?: Partial<grpc.CallOptions>,
  ): grpc.ClientReadableStream<Res>;
}

/** Signature of a bidirectional-streaming client method. */
export interface BidiStreamMethod<Req, Res> {
  /** Opens the call; write requests to and read responses from the returned duplex. */
  (
    metadata?: grpc.Metadata,
    options?: Partial<grpc.CallOptions>,
  ): grpc.ClientDuplexStream<Req, Res>;
}

/** A connected `blit.v1.Blit` client (a grpc-js `Client` with one typed method per RPC). */
export interface BlitClient extends grpc.Client {
  /** One transfer session. */
  transfer: BidiStreamMethod<ClientFrame, ServerFrame>;
  /** The exported modules. */
  listModules: UnaryMethod<ListModulesRequest, ListModulesResponse>;
  /** One directory of a module. */
  listDir: UnaryMethod<ListDirRequest, ListDirResponse>;
  /** Name search, streamed. */
  find: ServerStreamMethod<FindRequest, FindResult>;
  /** Per-directory usage, streamed. */
  diskUsage: ServerStreamMethod<DiskUsageRequest, DiskUsageEntry>;
  /** Filesystem capacity. */
  diskFree: UnaryMethod<DiskFreeRequest, DiskFreeResponse>;
  /** Recursive removal. */
  remove: UnaryMethod<RemoveRequest, RemoveResponse>;
  /** Remote path completion. */
  completePath: UnaryMethod<CompletePathRequest, CompletePathResponse>;
  /** A nonce for signing the next admin call. */
  challenge: UnaryMethod<ChallengeRequest, ChallengeResponse>;
}

/** Constructor of {@linkcode BlitClient}: `new BlitClientConstructor("127.0.0.1:9031", creds)`. */
export interface BlitClientConstructor {
  /** Creates a client for `address` ("host:port"); the channel connects lazily. */
  new (
    address: string,
    credentials: grpc.ChannelCredentials,
    options?: Partial<grpc.ClientOptions>,
  ): BlitClient;
  /** The service definition the client was built from. */
  readonly service: BlitServiceDefinition;
}

/**
 * The typed client class of `blit.v1.Blit`, made by grpc-js `makeGenericClientConstructor`.
 *
 * @example Usage
 * ```ts ignore
 * import * as grpc from "@grpc/grpc-js";
 * import { create } from "@bufbuild/protobuf";
 * import { ListModulesRequestSchema } from "../../proto/gen/blit_pb.ts";
 * import { BlitClientClass, blitChannelOptions } from "./grpc_service.ts";
 *
 * const client = new BlitClientClass(
 *   "127.0.0.1:9031",
 *   grpc.credentials.createInsecure(),
 *   blitChannelOptions(),
 * );
 * client.listModules(create(ListModulesRequestSchema), (err, res) => {
 *   console.log(err ?? res?.modules.map((m) => m.name));
 * });
 * ```
 */
export const BlitClientClass: BlitClientConstructor = grpc.makeGenericClientConstructor(
  BLIT_SERVICE,
  "Blit",
) as unknown as BlitClientConstructor;

/**
 * Channel options for a blit client: the message-size caps, and a connection of its own (grpc-js
 * otherwise shares one HTTP/2 connection between all clients of a process, so closing one client
 * would not bound the streams a connection carries).
 *
 * @returns A fresh options object for `new BlitClientClass(address, creds, options)`.
 */
export function blitChannelOptions(): grpc.ClientOptions {
  return {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    "grpc.use_local_subchannel_pool": 1,
  };
}

/**
 * Server options for the blit daemon: the message-size caps, and nothing that makes the server
 * send GOAWAY to a live client (`grpc.max_connection_age_ms` and `grpc.max_connection_idle_ms`
 * stay unset: a Deno client that receives GOAWAY after a long idle spell can abort).
 *
 * @returns A fresh options object for `new grpc.Server(options)`.
 */
export function blitServerOptions(): grpc.ServerOptions {
  return {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  };
}
