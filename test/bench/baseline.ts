// The benchmark's baseline: Apollo Server 5 on the same @as-integrations/express5 integration, with a
// hand-written graphql-js schema serving the measured query's shape (licenses connection, 50 rows and
// more) from memory. No auth, no ORM, no shield: what the stack costs before the application does anything.
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import {
  GraphQLEnumType,
  GraphQLID,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  GraphQLBoolean,
  type GraphQLNullableType,
} from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const ROWS = 1000;
const MAX_PAGE = 100;
const DAY = 86_400_000;

interface Named {
  id: string;
  name: string;
}

interface LicenseRow {
  id: string;
  key: string;
  kind: 'MDM' | 'MOBILE_SECURITY';
  seats: number;
  validFrom: Date;
  validUntil: Date;
  revokedAt: Date | null;
  createdAt: Date;
  customer: Named;
  reseller: Named;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function rows(): LicenseRow[] {
  const now = Date.now();
  const resellers: Named[] = Array.from({ length: 5 }, (_, i) => ({ id: `rsl_${hex(12)}`, name: `Reseller ${i + 1}` }));
  const customers: Named[] = Array.from({ length: 40 }, (_, i) => ({ id: `cus_${hex(12)}`, name: `Customer ${i + 1}` }));
  return Array.from({ length: ROWS }, (_, i) => {
    const createdAt = new Date(now - i * 3_600_000);
    return {
      id: `lic_${hex(12)}`,
      key: hex(13).toUpperCase().slice(0, 25).match(/.{5}/g)!.join('-'),
      kind: i % 2 === 0 ? 'MDM' : 'MOBILE_SECURITY',
      seats: 1 + (i % 500),
      validFrom: createdAt,
      validUntil: new Date(createdAt.getTime() + 365 * DAY),
      revokedAt: i % 33 === 0 ? createdAt : null,
      createdAt,
      customer: customers[i % customers.length]!,
      reseller: resellers[i % resellers.length]!,
    };
  });
}

const cursorOf = (row: LicenseRow) => Buffer.from(`${row.createdAt.getTime()}:${row.id}`, 'utf8').toString('base64url');

export function buildBaselineSchema(): GraphQLSchema {
  const data = rows();
  const nonNull = <T extends GraphQLNullableType>(type: T) => new GraphQLNonNull(type);

  const named = (name: string) =>
    new GraphQLObjectType<Named>({
      name,
      fields: { id: { type: nonNull(GraphQLID) }, name: { type: nonNull(GraphQLString) } },
    });
  const Reseller = named('Reseller');
  const Customer = named('Customer');
  const LicenseKind = new GraphQLEnumType({ name: 'LicenseKind', values: { MDM: {}, MOBILE_SECURITY: {} } });
  const LicenseStatus = new GraphQLEnumType({ name: 'LicenseStatus', values: { PENDING: {}, ACTIVE: {}, EXPIRED: {}, REVOKED: {} } });

  const License = new GraphQLObjectType<LicenseRow>({
    name: 'License',
    fields: {
      id: { type: nonNull(GraphQLID) },
      key: { type: nonNull(GraphQLString) },
      kind: { type: nonNull(LicenseKind) },
      seats: { type: nonNull(GraphQLInt) },
      status: {
        type: nonNull(LicenseStatus),
        resolve: (l) => {
          const now = Date.now();
          if (l.revokedAt) return 'REVOKED';
          if (now >= l.validUntil.getTime()) return 'EXPIRED';
          if (now < l.validFrom.getTime()) return 'PENDING';
          return 'ACTIVE';
        },
      },
      validFrom: { type: nonNull(DateTimeResolver) },
      validUntil: { type: nonNull(DateTimeResolver) },
      revokedAt: { type: DateTimeResolver },
      createdAt: { type: nonNull(DateTimeResolver) },
      customer: { type: nonNull(Customer) },
      reseller: { type: nonNull(Reseller) },
    },
  });
  const LicenseEdge = new GraphQLObjectType<LicenseRow>({
    name: 'LicenseEdge',
    fields: {
      cursor: { type: nonNull(GraphQLString), resolve: cursorOf },
      node: { type: nonNull(License), resolve: (row) => row },
    },
  });
  const PageInfo = new GraphQLObjectType<{ hasNextPage: boolean; endCursor: string | null }>({
    name: 'PageInfo',
    fields: { hasNextPage: { type: nonNull(GraphQLBoolean) }, endCursor: { type: GraphQLString } },
  });
  const LicenseConnection = new GraphQLObjectType<{ rows: LicenseRow[]; hasNextPage: boolean }>({
    name: 'LicenseConnection',
    fields: {
      totalCount: { type: nonNull(GraphQLInt), resolve: () => data.length },
      edges: { type: nonNull(new GraphQLList(nonNull(LicenseEdge))), resolve: (c) => c.rows },
      pageInfo: {
        type: nonNull(PageInfo),
        resolve: (c) => ({ hasNextPage: c.hasNextPage, endCursor: c.rows.length ? cursorOf(c.rows[c.rows.length - 1]!) : null }),
      },
    },
  });
  const Query = new GraphQLObjectType({
    name: 'Query',
    fields: {
      licenses: {
        type: nonNull(LicenseConnection),
        args: { first: { type: GraphQLInt, defaultValue: 20 }, after: { type: GraphQLString } },
        resolve: (_root, args: { first: number; after?: string | null }) => {
          const size = Math.max(1, Math.min(MAX_PAGE, args.first));
          let start = 0;
          if (args.after) {
            const index = data.findIndex((row) => cursorOf(row) === args.after);
            start = index + 1;
          }
          const page = data.slice(start, start + size + 1);
          return { rows: page.slice(0, size), hasNextPage: page.length > size };
        },
      },
    },
  });
  return new GraphQLSchema({ query: Query });
}

export interface Baseline {
  url: string;
  stop(): Promise<void>;
}

export async function startBaseline(options: { port?: number; host?: string } = {}): Promise<Baseline> {
  const app = express();
  app.disable('x-powered-by');
  const httpServer = createServer(app);
  const apollo = new ApolloServer({
    schema: buildBaselineSchema(),
    introspection: false,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: true,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer }), ApolloServerPluginLandingPageDisabled()],
  });
  await apollo.start();
  app.use('/graphql', express.json({ limit: '1mb' }), expressMiddleware(apollo));
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = httpServer.address() as AddressInfo;
  return {
    url: `http://${address.address}:${address.port}`,
    stop: () => apollo.stop(),
  };
}
