/**
 * A Node gRPC client of Switchyard, generated at run time from the repository's proto (as any
 * client would be), with the health and reflection services' clients: promise helpers that give
 * back the answer, the status and its trailers.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { LOADER_OPTIONS, loadSwitchyardProto } from '../../src/grpc/server';

type Ctor = grpc.ServiceClientConstructor;

export interface GrpcClients {
  switchyard: grpc.Client & Record<string, any>;
  health: grpc.Client & Record<string, any>;
  reflection: grpc.Client & Record<string, any>;
  close(): void;
}

export function grpcClients(address: string): GrpcClients {
  const sy = grpc.loadPackageDefinition(loadSwitchyardProto()) as any;
  const health = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS)) as any;
  const reflectionProto = path.join(
    path.dirname(require.resolve('@grpc/reflection/package.json')),
    'build/proto/grpc/reflection/v1/reflection.proto',
  );
  const reflection = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, LOADER_OPTIONS)) as any;
  const creds = grpc.credentials.createInsecure();
  const clients = {
    switchyard: new (sy.switchyard.v1.Switchyard as Ctor)(address, creds),
    health: new (health.grpc.health.v1.Health as Ctor)(address, creds),
    reflection: new (reflection.grpc.reflection.v1.ServerReflection as Ctor)(address, creds),
  };
  return {
    ...(clients as GrpcClients),
    close: () => Object.values(clients).forEach((c) => c.close()),
  };
}

export const keyMetadata = (key: string | undefined, more: Record<string, string> = {}) => {
  const md = new grpc.Metadata();
  if (key) md.set('authorization', `Bearer ${key}`);
  for (const [k, v] of Object.entries(more)) md.set(k, v);
  return md;
};

export type Unary<T> =
  { ok: true; value: T; metadata: grpc.Metadata } | { ok: false; error: grpc.ServiceError; metadata?: grpc.Metadata };

/** A unary call: its answer and initial metadata, or its error (code, details, trailers). */
export function unary<T = any>(
  client: GrpcClients['switchyard'],
  method: string,
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions = {},
): Promise<Unary<T>> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    const call = client[method](request, metadata, options, (err: grpc.ServiceError | null, value: T) =>
      resolve(err ? { ok: false, error: err, metadata: headers } : { ok: true, value, metadata: headers! }),
    ) as grpc.ClientUnaryCall;
    call.on('metadata', (md) => (headers = md));
  });
}

/** A server-streaming call read to its end: every message, then its error if it ended with one. */
export function readStream<T = any>(
  call: grpc.ClientReadableStream<T>,
): Promise<{ messages: T[]; error?: grpc.ServiceError; metadata?: grpc.Metadata }> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    let metadata: grpc.Metadata | undefined;
    call.on('metadata', (md) => (metadata = md));
    call.on('data', (m: T) => messages.push(m));
    call.on('error', (error: grpc.ServiceError) => resolve({ messages, error, metadata }));
    call.on('end', () => resolve({ messages, metadata }));
  });
}

/** The first value of a metadata entry as text. */
export const mdValue = (md: grpc.Metadata | undefined, name: string): string | undefined => {
  const v = md?.get(name)[0];
  return v === undefined ? undefined : String(v);
};
