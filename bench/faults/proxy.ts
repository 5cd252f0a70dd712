// A fault injector in front of the real registry: every request is forwarded as it came (method,
// path, headers, body, so the registry's upload Locations name the proxy and the client keeps using
// it) until a fault is switched on. Faults: `down` (the port is closed: connections are refused,
// open ones reset) and `429` (every request is answered 429 Too Many Requests with a Retry-After
// header). Workers point KILN_REGISTRY at it; the registry behind it is the real one.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface FaultProxy {
  /** `127.0.0.1:<port>`: what KILN_REGISTRY names. */
  address: string;
  /** Closes the port for `ms` (connections refused, open ones reset), then listens again. */
  down(ms: number): Promise<void>;
  /** Answers 429 for `ms`, with `Retry-After: retryAfter()` (seconds, or an HTTP date). */
  throttle(ms: number, retryAfter: () => string): Promise<void>;
  /** When each 429 was answered (ms since the epoch), oldest first. */
  throttled: number[];
  /** Every request that reached the proxy, oldest first: when it arrived, its method and path. */
  requests: { at: number; method: string; path: string }[];
  close(): Promise<void>;
}

export async function startFaultProxy(target: string, port = 0): Promise<FaultProxy> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  let retryAfter: (() => string) | undefined;
  const throttled: number[] = [];
  const requests: FaultProxy['requests'] = [];
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ at: Date.now(), method: req.method ?? 'GET', path: req.url ?? '/' });
    if (retryAfter) {
      throttled.push(Date.now());
      res.writeHead(429, { 'retry-after': retryAfter(), 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"fault injected: too many requests"}]}');
      return;
    }
    const upstream = request(
      { host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };

  const server = createServer(forward);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = (p: number) =>
    new Promise<number>((done, fail) => {
      server.once('error', fail);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', fail);
        done((server.address() as { port: number }).port);
      });
    });
  const stop = () =>
    new Promise<void>((done) => {
      server.close(() => done());
      for (const s of sockets) s.destroy();
    });
  const bound = await listen(port);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  return {
    address: `127.0.0.1:${bound}`,
    throttled,
    requests,
    async down(ms) {
      await stop();
      await sleep(ms);
      await listen(bound);
    },
    async throttle(ms, value) {
      retryAfter = value;
      await sleep(ms);
      retryAfter = undefined;
    },
    close: stop,
  };
}
