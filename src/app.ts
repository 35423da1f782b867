// Builds the HTTP application: Express 5 with Apollo Server 5 at /graphql, /healthz, request limits
// and explicit production behaviour. Used by main.ts and by the tests, which start real servers.
import 'reflect-metadata';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type NextFunction, type Request, type Response } from 'express';
import { getOperationAST, parse } from 'graphql';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EntityManager } from '@mikro-orm/core';
import type { Config, ExecutorName } from './config';
import { createContext, type Context } from './context';
import { migrate, openOrm, type Orm, type OrmOptions } from './db/orm';
import { tightenFolder } from './common/private-files';
import { ErrorCode } from './errors';
import { queryCostPlugin } from './graphql/cost';
import { executionOptions, type JitStats } from './graphql/executor';
import { createFormatError } from './graphql/format-error';
import { MAX_TOKENS, requestLimitsRule } from './graphql/limits';
import { buildAppSchema } from './graphql/schema';
import { createLogger, describeError, type Logger } from './logger';
import { Metrics, type PoolStats } from './metrics';
import { observabilityPlugin } from './graphql/observability';
import { safeEqual } from './modules/auth/secrets';
import { createServices, type Services } from './services';
import { createPagesRouter } from './modules/pages/pages.router';
import { WebhookEvent } from './modules/webhooks/webhook-event.entity';
import { messagesInserted, takeMessagesInserted } from './modules/webhooks/webhook-events';
import type { WebhookWorker } from './modules/webhooks/webhook-worker';

export const BODY_LIMIT = '1mb';

export interface App {
  services: Services;
  /** GRAPHQL_EXECUTOR, and graphql-jit's counts of compiled documents and graphql-js fallbacks (null for graphql-js). */
  executor: { name: ExecutorName; stats: JitStats | null };
  httpServer: Server;
  url: string;
  /** Stops accepting requests, lets in-flight ones finish (bounded), then closes the database. */
  stop(): Promise<void>;
}

/**
 * A GET query without a bearer token and without a preflight-forcing header: what a browser could send
 * cross-site, so it is not executed (FLOWS.md section 13). Every query needs a session, so the answer is
 * the one execution would give, UNAUTHENTICATED with the bearer challenge, instead of Apollo's CSRF 400
 * with BAD_USER_INPUT, which sent urql users (GET by default) looking for an input error. Mutations and
 * unreadable documents go on to Apollo (405, 400).
 */
function tokenlessGetQuery(req: Request, res: Response, next: NextFunction) {
  const preflighted = ['authorization', 'x-apollo-operation-name', 'apollo-require-preflight', 'content-type'].some((h) => req.get(h));
  if (preflighted || typeof req.query.query !== 'string') return next();
  let operation;
  try {
    const document = parse(req.query.query, { maxTokens: MAX_TOKENS });
    operation = getOperationAST(document, typeof req.query.operationName === 'string' ? req.query.operationName : undefined);
  } catch {
    return next();
  }
  if (operation?.operation !== 'query') return next();
  res.set('www-authenticate', 'Bearer');
  return jsonError(res, 200, ErrorCode.UNAUTHENTICATED, 'Not signed in, or the session has ended.');
}

function jsonError(res: Response, status: number, code: string, message: string) {
  res.status(status).json({ errors: [{ message, extensions: { code } }] });
}

const DAY_MS = 24 * 60 * 60 * 1000;

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

/** The knex (tarn) pool behind the ORM, for the pool gauge. */
function poolStats(orm: Orm): PoolStats | null {
  const connection = orm.em.getConnection() as unknown as { getKnex(): { client: { pool?: TarnPool } } };
  const pool = connection.getKnex().client.pool;
  return pool ? { used: pool.numUsed(), free: pool.numFree(), pending: pool.numPendingAcquires() } : null;
}

/** EXPIRY_REMINDERS=on: one run a minute after start-up, then daily. Overlapping runs (other servers) are safe. */
function scheduleExpiryReminders(services: Services): () => void {
  const run = () =>
    services.background.run('expiry-reminders', async () => {
      const result = await services.reminders.run(services.orm.em.fork());
      services.log.info('expiry reminders sent', { reminded: result.reminded, mails: result.mails, failed: result.failed });
    });
  const first = setTimeout(run, 60_000).unref();
  const daily = setInterval(run, DAY_MS).unref();
  return () => {
    clearTimeout(first);
    clearInterval(daily);
  };
}

/**
 * Webhook messages committed by this process go out at once instead of at the worker's next poll: the entity
 * manager that wrote some (a flush that created one, or bulk writes that inserted some: auditMany) nudges the
 * worker after its commit. Marked per entity manager (the transaction's fork), so that one transaction's commit
 * does not take the nudge of another still running. A flush outside em.transactional commits in a transaction
 * of its own (the ORM's implicit transactions, on by default), so every commit passes afterTransactionCommit.
 */
function nudgeOnNewEvents(orm: Orm, worker: WebhookWorker): void {
  const nudgeIfInserted = (em: EntityManager) => {
    if (takeMessagesInserted(em)) worker.nudge();
  };
  orm.em.getEventManager().registerSubscriber({
    getSubscribedEntities: () => [WebhookEvent],
    afterCreate: (args) => messagesInserted(args.em),
    afterTransactionCommit: (args) => nudgeIfInserted(args.em),
    afterTransactionRollback: (args) => {
      takeMessagesInserted(args.em);
    },
  });
}

export async function startApp(config: Config, options: { log?: Logger; orm?: OrmOptions } = {}): Promise<App> {
  const log = options.log ?? createLogger(config.logLevel);
  tightenFolder(config.dataDir);
  const orm: Orm = await openOrm(config.database, options.orm);
  try {
    await migrate(orm);
  } catch (error) {
    await orm.close(true);
    throw error;
  }
  const metrics = new Metrics(() => poolStats(orm));
  const services = createServices(config, log, orm, metrics);
  const schema = await buildAppSchema();

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  const httpServer = createServer(app);

  const execution = executionOptions(schema, config.executor);
  const apollo = new ApolloServer<Context>({
    ...execution.apollo,
    // Set explicitly, never left to NODE_ENV defaults.
    introspection: !config.production,
    includeStacktraceInErrorResponses: !config.production,
    hideSchemaDetailsFromClientErrors: config.production,
    // A request with a bearer token cannot be sent cross-site without a preflight, so it may be a GET
    // query (urql's default); token-less simple requests stay refused. Mutations are POST-only anyway.
    csrfPrevention: { requestHeaders: ['x-apollo-operation-name', 'apollo-require-preflight', 'authorization'] },
    allowBatchedHttpRequests: false,
    // main.ts owns SIGTERM/SIGINT (drain background work, close the database, exit 0). Apollo's own
    // handlers (on unless NODE_ENV=test) would re-raise the signal after its stop and kill the process first.
    stopOnTerminationSignals: false,
    validationRules: [requestLimitsRule],
    parseOptions: { maxTokens: MAX_TOKENS },
    formatError: createFormatError({ production: config.production, log }),
    // Apollo's default indents every response (JSON.stringify with 2 spaces): the same JSON, compact, costs
    // about half as much CPU on a 50-row page and a third fewer bytes.
    stringifyResult: (result) => JSON.stringify(result),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownTimeoutMs }),
      observabilityPlugin(log, metrics),
      queryCostPlugin(config.maxQueryCost),
      // No cache hints are used; without this plugin Apollo does not wrap every field resolver.
      ApolloServerPluginCacheControlDisabled(),
      ...(config.production ? [ApolloServerPluginLandingPageDisabled()] : []),
    ],
  });
  await apollo.start();

  // A request id for every request: the client's X-Request-Id when it is sane, else a new one.
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.locals.receivedAt = process.hrtime.bigint();
    const given = req.get('x-request-id');
    const id = given && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.set('X-Request-Id', id);
    next();
  });

  app.get('/metrics', async (req, res) => {
    if (config.metricsToken) {
      const given = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1] ?? '';
      if (!safeEqual(given, config.metricsToken))
        return jsonError(res, 401, ErrorCode.UNAUTHENTICATED, 'A valid metrics token is required.');
    } else if (config.production) {
      return jsonError(res, 404, ErrorCode.NOT_FOUND, 'Not found.');
    }
    res.set('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  app.get('/healthz', async (_req, res) => {
    try {
      await orm.em.getConnection().execute('select 1');
      res.status(200).json({ status: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });

  // The pages behind the links in e-mails (/reset-password, /two-factor-setup): HTML forms, own body parser.
  app.use(createPagesRouter(services));

  app.get('/graphql', tokenlessGetQuery);
  app.use(
    '/graphql',
    express.json({ limit: BODY_LIMIT }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => createContext(services, req, res.locals.requestId as string, res.locals.receivedAt as bigint),
    }),
  );

  app.use((_req: Request, res: Response) => jsonError(res, 404, 'NOT_FOUND', 'Not found.'));
  // Body-parser errors (too large, malformed JSON) and anything else that escapes: JSON, no internals.
  app.use((error: { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (error.type === 'entity.too.large') return jsonError(res, 413, ErrorCode.BAD_USER_INPUT, `The request body exceeds ${BODY_LIMIT}.`);
    if (error.status && error.status >= 400 && error.status < 500) {
      return jsonError(res, error.status, ErrorCode.BAD_USER_INPUT, 'The request could not be read.');
    }
    log.error('unhandled HTTP error', describeError(error));
    return jsonError(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error.');
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const address = httpServer.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  log.info('listening', { url: `${url}/graphql` });

  const stopReminders = config.expiryReminders ? scheduleExpiryReminders(services) : null;
  metrics.watchWebhookBacklog(() => services.webhookWorker.oldestPendingSeconds());
  if (config.webhooks.worker) {
    nudgeOnNewEvents(orm, services.webhookWorker);
    services.webhookWorker.start();
  }

  let stopping: Promise<void> | undefined;
  return {
    services,
    executor: { name: config.executor, stats: execution.jit?.stats ?? null },
    httpServer,
    url,
    stop: () =>
      (stopping ??= (async () => {
        stopReminders?.();
        await apollo.stop();
        await services.webhookWorker.stop();
        await services.background.drain();
        services.mailer.close();
        await services.reader.close();
        await orm.close();
      })()),
  };
}
