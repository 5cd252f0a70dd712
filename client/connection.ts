// client/: the Temporal client side of kiln — connecting, the Schedules, starting and following a
// rebuild. The CLI, setup, the benchmark and tests call these; nothing here runs inside a workflow.
//
// Every connection is made from config.temporal: the address, TLS, mTLS, API key and gRPC metadata
// as @temporalio/envconfig resolved them (TEMPORAL_* variables or a temporal.toml profile), so a
// secured cluster or Temporal Cloud is reached exactly as the embedded dev server is.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { KilnConfig } from '../config/config.js';

export interface KilnClient {
  client: Client;
  connection: Connection;
  close(): Promise<void>;
}

/** A client on config.temporal's namespace (CLI commands, schedules, tests). */
export async function connectClient(config: KilnConfig): Promise<KilnClient> {
  const { address, tls, apiKey, metadata } = config.temporal.connection;
  const connection = await Connection.connect({ address, tls, apiKey, metadata });
  return {
    client: new Client({ connection, namespace: config.temporal.namespace }),
    connection,
    close: () => connection.close(),
  };
}

/** The native connection a worker polls through (workers/, `kiln rebuild`, the benchmark, tests). */
export function connectWorkerConnection(config: KilnConfig): Promise<NativeConnection> {
  return NativeConnection.connect(config.temporal.connection);
}
