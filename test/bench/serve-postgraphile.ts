// Child process entry: PostGraphile 4 (a dev dependency) serving the bench's seeded PostgreSQL schema at
// /graphql, with no authentication and no row security: what a user who picked PostGraphile instead
// would run. PostGraphile 4 needs graphql 15 while the app uses graphql 16: in this process (and only
// here) every `require('graphql...')` is answered by the graphql 15 installed as `graphql15`, before
// PostGraphile is loaded. Configured from DATABASE_URL, DATABASE_SCHEMA and HOST.
import Module from 'node:module';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveInChild } from './child-protocol';

type Resolve = (request: string, parent: unknown, isMain: boolean, options: unknown) => string;
const internals = Module as unknown as { _resolveFilename: Resolve };
const resolveFilename = internals._resolveFilename;
internals._resolveFilename = function (request, parent, isMain, options) {
  const redirected = request === 'graphql' || request.startsWith('graphql/') ? `graphql15${request.slice('graphql'.length)}` : request;
  return resolveFilename.call(this, redirected, parent, isMain, options);
};

interface PostGraphileMiddleware {
  (req: unknown, res: unknown, next?: (error?: unknown) => void): void;
  release(): Promise<void>;
}
type PostGraphile = (url: string, schema: string, options: Record<string, unknown>) => PostGraphileMiddleware;

serveInChild(async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { postgraphile } = require('postgraphile') as { postgraphile: PostGraphile };
  const middleware = postgraphile(process.env.DATABASE_URL!, process.env.DATABASE_SCHEMA!, {
    graphqlRoute: '/graphql',
    graphiql: false,
    watchPg: false,
    retryOnInitFail: false,
    disableQueryLog: true,
    enableQueryBatching: false,
    ignoreRBAC: true,
    showErrorStack: false,
    extendedErrors: [],
  });
  const server = createServer((req, res) => middleware(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, process.env.HOST || '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address}:${address.port}`,
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await middleware.release();
    },
  };
});
