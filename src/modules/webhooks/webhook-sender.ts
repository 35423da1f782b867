// One POST of one message (FLOWS.md section 12): the Standard Webhooks headers, signed with the
// spec's own library; the connection goes only to an allowed address (webhook-address.ts), follows no
// redirect, and gives up after the timeout. The receiver's body is read and dropped.
import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import { assertLiteralAllowed, guardedLookup } from './webhook-address';

export interface Message {
  id: string;
  type: string;
  /** When the event happened (the payload's timestamp). */
  timestamp: Date;
  data: unknown;
}

export interface Attempt {
  /** The receiver's HTTP status, or null when none came. */
  status: number | null;
  /** Why no status came (timeout, refused address, connection error), short and without internals. */
  error: string | null;
}

/** The request body: { id, type, timestamp, data }. */
export function messageBody(message: Message): string {
  return JSON.stringify({ id: message.id, type: message.type, timestamp: message.timestamp.toISOString(), data: message.data });
}

/** The Standard Webhooks headers of a body sent now. */
export function signedHeaders(secret: string, messageId: string, body: string, now = new Date()): Record<string, string> {
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(messageId, now, body),
  };
}

const MAX_SOCKETS = 16;

function describe(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === 'EADDRREFUSED' || (error as Error).name === 'AddressRefused') return 'address refused';
  if (code === 'ETIMEDOUT' || code === 'ABORT_TIMEOUT') return 'timeout';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET') return 'connection reset';
  if (code && /^(CERT_|ERR_TLS|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|ERR_SSL)/.test(code)) return 'TLS error';
  return 'connection error';
}

export class WebhookSender {
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly lookup;

  constructor(
    private readonly production: boolean,
    private readonly timeoutMs: number,
  ) {
    this.lookup = guardedLookup(production);
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      https: new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
    };
  }

  /** POSTs the message; never throws. `signal` aborts it (shutdown): the result is then an error. */
  send(url: string, secret: string, message: Message, signal?: AbortSignal): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      let target: URL;
      try {
        target = new URL(url);
        assertLiteralAllowed(target, this.production);
      } catch (error) {
        return resolve({ status: null, error: describe(error) });
      }
      const body = messageBody(message);
      const secure = target.protocol === 'https:';
      const request = (secure ? https : http).request(target, {
        method: 'POST',
        agent: secure ? this.agents.https : this.agents.http,
        lookup: this.lookup,
        signal,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'LicensePortal-Webhooks/1',
          ...signedHeaders(secret, message.id, body),
        },
      });
      let settled = false;
      const finish = (attempt: Attempt) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(attempt);
      };
      const timer = setTimeout(() => {
        finish({ status: null, error: 'timeout' });
        request.destroy();
      }, this.timeoutMs);
      request.on('response', (response) => {
        // A redirect is an answer like any other non-2xx: not followed.
        response.on('data', () => undefined);
        response.on('end', () => finish({ status: response.statusCode ?? null, error: null }));
        response.on('error', (error) => finish({ status: null, error: describe(error) }));
      });
      request.on('error', (error) => finish({ status: null, error: signal?.aborted ? 'aborted' : describe(error) }));
      request.end(body);
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
