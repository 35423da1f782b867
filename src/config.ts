// The one place that reads process.env: a typed, validated configuration object.
// Every variable is documented in .env.example. Invalid values stop start-up with a one-line error.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isLocale, type Locale } from './common/locale';

export type DatabaseConfig = { engine: 'sqlite'; path: string } | { engine: 'postgresql'; url: string; schema?: string };

/** How validated GraphQL operations are executed (src/graphql/executor.ts). */
export type ExecutorName = 'jit' | 'graphql-js';
export const EXECUTORS: readonly ExecutorName[] = ['jit', 'graphql-js'];

export interface Config {
  production: boolean;
  port: number;
  host: string;
  database: DatabaseConfig;
  dataDir: string;
  /** Key material for encrypting TOTP secrets; never logged. */
  secretKey: string;
  publicUrl: string;
  /**
   * Where RESELLER_PORTAL activation redirects go. Outside production it defaults to the built-in
   * /two-factor-setup page (the stand-in for the reseller portal); in production it is null when unset,
   * and accounts linked to the reseller portal then activate 2FA by e-mail like portal accounts.
   */
  resellerPortalUrl: string | null;
  smtpUrl: string | null;
  mailOutboxDir: string;
  mailFrom: string;
  totpIssuer: string;
  /** Reverse proxies in front of the server whose X-Forwarded-For entries are trusted (0: none). */
  trustProxy: number;
  logLevel: 'silent' | 'error' | 'info' | 'debug';
  shutdownTimeoutMs: number;
  /** Run the expiry reminders in-process once a day (EXPIRY_REMINDERS=on); off by default. */
  expiryReminders: boolean;
  /**
   * TOTP_SECRET_REDISPLAY (FLOWS.md section 11): `always` (default) shows an enrolled secret again after an
   * e-mailed password reset; `never` starts a fresh enrolment there instead (the old secret works until
   * the new one is confirmed).
   */
  totpSecretRedisplay: 'always' | 'never';
  /** Bearer token for GET /metrics; without it /metrics is not served in production. */
  metricsToken: string | null;
  /** Vendor name on the server-rendered pages (BRAND_NAME, default TOTP_ISSUER). */
  brandName: string;
  /** Vendor colour on those pages: lower-case #rrggbb (BRAND_COLOR, default #0b5fff). */
  brandColor: string;
  /** The most a request may cost before it runs (MAX_QUERY_COST, default 10000; FLOWS.md section 8). */
  maxQueryCost: number;
  /**
   * DEFAULT_LOCALE (en, de; default en): the locale of accounts created by an admin (unless createUser
   * names one) and by `create-admin`. A reseller's user invites in the user's own locale.
   */
  defaultLocale: Locale;
  /** Webhook delivery (FLOWS.md section 12). */
  webhooks: WebhookConfig;
  /** GRAPHQL_EXECUTOR: jit (default; graphql-jit, compiled per document) or graphql-js (src/graphql/executor.ts). */
  executor: ExecutorName;
}

export interface WebhookConfig {
  /** WEBHOOK_WORKER=on (default): this process delivers webhooks; off: it only records them for others. */
  worker: boolean;
  /** WEBHOOK_TIMEOUT_SECONDS (default 10): how long one delivery attempt may take. */
  timeoutMs: number;
}

export class ConfigError extends Error {}

/** Reads ./.env into process.env (variables already set win). Called by the entry points only. */
export function loadDotEnv(file = resolve('.env')): void {
  if (existsSync(file)) process.loadEnvFile(file);
}

type Env = Record<string, string | undefined>;

function parseUrl(name: string, value: string): URL {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
    return url;
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${value}"`);
  }
}

function parseDatabase(value: string, env: Env): DatabaseConfig {
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length);
    if (!path) throw new ConfigError('DATABASE_URL sqlite: needs a path, e.g. sqlite:./data/portal.sqlite');
    return { engine: 'sqlite', path: path === ':memory:' ? path : resolve(path) };
  }
  if (value.startsWith('postgres://') || value.startsWith('postgresql://')) {
    const schema = env.DATABASE_SCHEMA?.trim() || undefined;
    if (schema && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new ConfigError('DATABASE_SCHEMA must be a lower-case SQL identifier');
    }
    return { engine: 'postgresql', url: value, schema };
  }
  throw new ConfigError('DATABASE_URL must start with sqlite: or postgres://');
}

/** http://<host>:<port> of the listening server; a loopback or wildcard address is named localhost. */
export function defaultPublicUrl(host: string, port: number): string {
  const local = ['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost', ''].includes(host);
  const name = local ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${port}`;
}

function parsePort(value: string | undefined): number {
  // Empty (e.g. "PORT=" in a copied .env) means unset, like every other variable: Number('') would be 0.
  const text = value?.trim() || '4000';
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`PORT must be an integer 0..65535, got "${value}"`);
  }
  return port;
}

/** #rgb or #rrggbb, returned as lower-case #rrggbb (it is written into the pages' stylesheet). */
function parseBrandColor(value: string): string {
  const match = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(value);
  if (!match) throw new ConfigError(`BRAND_COLOR must be a hex colour like #0b5fff, got "${value}"`);
  const hex = match[1]!.toLowerCase();
  return '#' + (hex.length === 3 ? [...hex].map((c) => c + c).join('') : hex);
}

/**
 * TRUST_PROXY: false/0 (default), true (= one proxy) or the number of proxies. Only that many entries
 * from the right of X-Forwarded-For are trusted: the left-most entry is whatever the client sent.
 */
function parseTrustProxy(value: string | undefined): number {
  const text = value?.trim().toLowerCase() || 'false';
  if (text === 'false') return 0;
  if (text === 'true') return 1;
  if (/^[0-9]{1,2}$/.test(text)) return Number(text);
  throw new ConfigError(`TRUST_PROXY must be false, true or a number of proxies, got "${value}"`);
}

/** Outside production a development key is generated once and kept in the data folder. */
function developmentSecretKey(dataDir: string): string {
  const file = join(dataDir, 'secret.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  // The data folder is owner-only, like the key in it (see common/private-files.ts).
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32).toString('base64');
  writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return key;
}

export function loadConfig(env: Env = process.env): Config {
  const production = env.NODE_ENV === 'production';
  const dataDir = resolve(env.DATA_DIR || './data');
  const database = parseDatabase(env.DATABASE_URL || `sqlite:${join(dataDir, 'portal.sqlite')}`, env);

  let secretKey = env.SECRET_KEY?.trim() ?? '';
  if (!secretKey) {
    if (production) throw new ConfigError('SECRET_KEY is required when NODE_ENV=production');
    secretKey = developmentSecretKey(dataDir);
  }
  if (secretKey.length < 32) throw new ConfigError('SECRET_KEY must be at least 32 characters');

  const port = parsePort(env.PORT);
  const host = env.HOST || '127.0.0.1';
  // Unset: where this server listens, so that links work on a developer's machine whatever PORT is.
  const publicUrl = parseUrl('PUBLIC_URL', env.PUBLIC_URL?.trim() || defaultPublicUrl(host, port))
    .toString()
    .replace(/\/$/, '');
  const portalUrl = env.RESELLER_PORTAL_URL?.trim() || (production ? null : `${publicUrl}/two-factor-setup`);
  const resellerPortalUrl = portalUrl === null ? null : parseUrl('RESELLER_PORTAL_URL', portalUrl).toString();

  const smtpUrl = env.SMTP_URL?.trim() || null;
  if (smtpUrl && !/^smtps?:\/\//.test(smtpUrl)) throw new ConfigError('SMTP_URL must start with smtp:// or smtps://');

  const mailFrom = env.MAIL_FROM?.trim() || 'License Portal <no-reply@localhost>';
  if (/[\r\n]/.test(mailFrom)) throw new ConfigError('MAIL_FROM must be one line');

  const logLevel = (env.LOG_LEVEL || (env.NODE_ENV === 'test' ? 'silent' : 'info')) as Config['logLevel'];
  if (!['silent', 'error', 'info', 'debug'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL must be one of silent, error, info, debug');
  }

  const shutdownTimeoutMs = Number(env.SHUTDOWN_TIMEOUT_MS?.trim() || '10000');
  if (!Number.isInteger(shutdownTimeoutMs) || shutdownTimeoutMs < 0) {
    throw new ConfigError('SHUTDOWN_TIMEOUT_MS must be a non-negative integer');
  }

  const totpIssuer = env.TOTP_ISSUER?.trim() || 'License Portal';
  const brandName = env.BRAND_NAME?.trim() || totpIssuer;
  if (brandName.length > 100 || /[\u0000-\u001f\u007f\u2028\u2029]/.test(brandName)) {
    throw new ConfigError('BRAND_NAME must be one line of at most 100 characters');
  }
  const brandColor = parseBrandColor(env.BRAND_COLOR?.trim() || '#0b5fff');

  const reminders = (env.EXPIRY_REMINDERS ?? 'off').trim().toLowerCase();
  if (!['on', 'off', ''].includes(reminders)) throw new ConfigError('EXPIRY_REMINDERS must be on or off');

  const redisplay = (env.TOTP_SECRET_REDISPLAY ?? '').trim().toLowerCase() || 'always';
  if (redisplay !== 'always' && redisplay !== 'never') {
    throw new ConfigError(`TOTP_SECRET_REDISPLAY must be always or never, got "${env.TOTP_SECRET_REDISPLAY}"`);
  }

  const metricsToken = env.METRICS_TOKEN?.trim() || null;
  if (metricsToken !== null && metricsToken.length < 16) throw new ConfigError('METRICS_TOKEN must be at least 16 characters');

  const maxQueryCostText = env.MAX_QUERY_COST?.trim() || '10000';
  const maxQueryCost = /^[0-9]{1,9}$/.test(maxQueryCostText) ? Number(maxQueryCostText) : NaN;
  if (!(maxQueryCost >= 1)) throw new ConfigError(`MAX_QUERY_COST must be a positive integer, got "${env.MAX_QUERY_COST}"`);

  const defaultLocale = (env.DEFAULT_LOCALE ?? '').trim().toLowerCase() || 'en';
  if (!isLocale(defaultLocale)) throw new ConfigError(`DEFAULT_LOCALE must be en or de, got "${env.DEFAULT_LOCALE}"`);

  const worker = (env.WEBHOOK_WORKER ?? '').trim().toLowerCase() || 'on';
  if (worker !== 'on' && worker !== 'off') throw new ConfigError(`WEBHOOK_WORKER must be on or off, got "${env.WEBHOOK_WORKER}"`);
  const timeoutText = env.WEBHOOK_TIMEOUT_SECONDS?.trim() || '10';
  const timeoutSeconds = /^[0-9]{1,2}$/.test(timeoutText) ? Number(timeoutText) : NaN;
  if (!(timeoutSeconds >= 1 && timeoutSeconds <= 60)) {
    throw new ConfigError(`WEBHOOK_TIMEOUT_SECONDS must be an integer 1..60, got "${env.WEBHOOK_TIMEOUT_SECONDS}"`);
  }

  const executor = (env.GRAPHQL_EXECUTOR ?? '').trim().toLowerCase() || 'jit';
  if (!(EXECUTORS as readonly string[]).includes(executor)) {
    throw new ConfigError(`GRAPHQL_EXECUTOR must be jit or graphql-js, got "${env.GRAPHQL_EXECUTOR}"`);
  }

  return {
    production,
    port,
    host,
    database,
    dataDir,
    secretKey,
    publicUrl,
    resellerPortalUrl,
    smtpUrl,
    mailOutboxDir: resolve(env.MAIL_OUTBOX_DIR || join(dataDir, 'outbox')),
    mailFrom,
    totpIssuer,
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    logLevel,
    shutdownTimeoutMs,
    expiryReminders: reminders === 'on',
    totpSecretRedisplay: redisplay,
    metricsToken,
    brandName,
    brandColor,
    maxQueryCost,
    defaultLocale,
    webhooks: { worker: worker === 'on', timeoutMs: timeoutSeconds * 1000 },
    executor: executor as ExecutorName,
  };
}
