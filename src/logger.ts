// Structured JSON logs (pino). Callers pass ids and outcomes, never tokens, codes or secrets; as a
// second line of defence, fields that could carry them are redacted wherever they appear.
import pino, { type Logger as PinoLogger } from 'pino';
import type { Config } from './config';

export interface Logger {
  error(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}

const REDACT = [
  'password',
  'newPassword',
  'token',
  'setupToken',
  'totpCode',
  'secret',
  'authorization',
  '*.password',
  '*.newPassword',
  '*.token',
  '*.setupToken',
  '*.totpCode',
  '*.secret',
  '*.authorization',
];

function wrap(p: PinoLogger): Logger {
  return {
    error: (msg, fields) => p.error(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
  };
}

/** A logger at the level; `destination` defaults to stderr (tests pass a stream to read the lines). */
export function createLogger(level: Config['logLevel'], destination: pino.DestinationStream = pino.destination({ fd: 2, sync: true })): Logger {
  return wrap(
    pino(
      {
        level,
        base: { service: 'license-portal' },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        redact: { paths: REDACT, censor: '[redacted]' },
      },
      destination,
    ),
  );
}

/** An error's name and message only: stacks and driver details stay out of normal logs. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) return { error: error.name, message: error.message };
  return { error: String(error) };
}
