// Structured JSON logs (pino). Callers pass ids and outcomes, never tokens, codes or secrets; as a
// second line of defence, fields that could carry them are redacted wherever they appear.
import { DriverException } from '@mikro-orm/core';
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
export function createLogger(
  level: Config['logLevel'],
  destination: pino.DestinationStream = pino.destination({ fd: 2, sync: true }),
): Logger {
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

/** What a log line keeps of a message: a short prefix, so no request can write its own values at length. */
export const MAX_LOGGED_MESSAGE = 120;

const bounded = (text: string) => (text.length > MAX_LOGGED_MESSAGE ? `${text.slice(0, MAX_LOGGED_MESSAGE)}…` : text);

/**
 * A database error (MikroORM's DriverException and its subclasses, or a bare sqlite3 / pg error): its
 * message holds the statement with the request's values inlined, and pg's detail repeats them.
 */
function driverCode(error: Error): string | null {
  const { code, errno } = error as Error & { code?: unknown; errno?: unknown };
  const fromDriver = error instanceof DriverException || 'severity' in error || (typeof code === 'string' && code.startsWith('SQLITE_'));
  if (!fromDriver) return null;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
  return typeof errno === 'number' ? String(errno) : 'unknown';
}

/**
 * An error's name and a short prefix of its message; a database error by its driver code (an SQLITE_*
 * code, a PostgreSQL SQLSTATE) instead, never its message. Stacks stay out of normal logs.
 */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const code = driverCode(error);
    if (code !== null) return { error: bounded(error.name), code };
    return { error: bounded(error.name), message: bounded(error.message) };
  }
  return { error: bounded(String(error)) };
}
