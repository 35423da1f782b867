// A real HTTP receiver for webhook tests: records every request, verifies its Standard Webhooks
// signature with the spec's own library (as a receiver would), and answers what the test says.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  /** The request path, e.g. /hooks/r1. */
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** The parsed body: { id, type, timestamp, data }. */
  message: { id: string; type: string; timestamp: string; data: Record<string, unknown> & { license: Record<string, unknown> } };
  /** The status this receiver answered (null: it never answered). */
  answered: number | null;
}

/** What to answer the n-th request (0-based): a status, or 'hang' to never answer. */
export type Responder = (request: Received, n: number) => number | 'hang';

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  respond: Responder;
  /** Secrets (whsec_...) to verify against; a request no secret verifies fails the test through `unverified`. */
  secrets: string[];
  unverified: string[];
  /** TCP connections made to the receiver (a refused address makes none). */
  connections: number;
  /** The messages answered with a 2xx, by id. */
  accepted(): Received[];
  waitFor(count: number, what?: (r: Received) => boolean, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(respond: Responder = () => 204): Promise<Receiver> {
  const hanging: ServerResponse[] = [];
  const receiver = {
    received: [] as Received[],
    respond,
    secrets: [] as string[],
    unverified: [] as string[],
    connections: 0,
  } as Receiver;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      };
      const verified = receiver.secrets.some((secret) => {
        try {
          new Webhook(secret).verify(body, headers);
          return true;
        } catch {
          return false;
        }
      });
      if (!verified) receiver.unverified.push(body);
      const entry: Received = {
        path: req.url ?? '',
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signature: headers['webhook-signature'],
        body,
        message: JSON.parse(body) as Received['message'],
        answered: null,
      };
      const answer = receiver.respond(entry, receiver.received.length);
      receiver.received.push(entry);
      if (answer === 'hang') {
        hanging.push(res);
        return;
      }
      entry.answered = answer;
      res.statusCode = answer;
      res.end();
    });
  });
  server.on('connection', () => (receiver.connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  receiver.port = port;
  receiver.url = `http://127.0.0.1:${port}/hooks`;
  receiver.accepted = () => receiver.received.filter((r) => r.answered !== null && r.answered >= 200 && r.answered < 300);
  receiver.waitFor = async (count, what = () => true, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = receiver.received.filter(what);
      if (found.length >= count) return found;
      if (Date.now() > deadline) throw new Error(`the receiver got ${found.length} of ${count} expected requests`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  receiver.close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return receiver;
}
