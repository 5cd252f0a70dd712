// Pipeline tests' kiln clusters (setup/cluster.test.ts, workers/share-nothing.test.ts) on free
// loopback ports, beside the shared dev server.
import { createServer } from 'node:net';
import { clusterPorts, MAX_FRONTEND_PORT } from '../../../setup/cluster-config.js';
import { freePort } from '../global-setup.js';

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A frontend port whose whole laid-out set (PostgreSQL, membership, HTTP, the others) is free. Not an
 * ephemeral port: the membership ports must stay below 32768 (clusterPorts).
 */
export async function freeClusterAddresses(): Promise<{ TEMPORAL_ADDRESS: string; KILN_WEB_UI: string }> {
  const ui = await freePort();
  for (let i = 0; i < 50; i++) {
    const frontend = 20_000 + Math.floor(Math.random() * (MAX_FRONTEND_PORT - 20_000));
    const ports = Object.values(clusterPorts(frontend, ui)).filter((p) => p !== ui);
    if ((await Promise.all(ports.map(canListen))).every(Boolean))
      return { TEMPORAL_ADDRESS: `127.0.0.1:${frontend}`, KILN_WEB_UI: `http://127.0.0.1:${ui}` };
  }
  throw new Error('no free set of cluster ports on 127.0.0.1');
}
