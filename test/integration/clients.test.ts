// Clients nobody here wrote, against the real server (FLOWS.md section 13): the graphql-http conformance
// audit in development and production, and urql (GET queries by default) and Apollo Client 3 (POST)
// reading the error codes of a missing, a dead and a TOTP_REQUIRED token where they look for them.
import { ApolloClient, ApolloError, HttpLink, InMemoryCache, gql as apolloGql } from '@apollo/client/core';
import { Client, fetchExchange, gql as urqlGql } from '@urql/core';
import { expect } from 'chai';
import { auditServer } from 'graphql-http';
import { Role, SessionStage } from '../../src/common/enums';
import { hashToken } from '../../src/modules/auth/secrets';
import { Session } from '../../src/modules/auth/session.entity';
import { makeUser, passwordOnly, signIn } from '../factories';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * MUST audits that need introspection, which is off in production (FLOWS.md section 1): they query
 * `__type`, so in production they fail validation by design.
 */
const INTROSPECTION_ONLY: Record<string, string> = {
  BF61: 'MUST accept utf-8 encoded request: its query is { __type(name: "Run🏃Swim🏊") { name } }',
  '28B9': 'MUST allow map {variables} parameter: its query is query Type($name: String!) { __type(name: $name) { name } }',
};

describe('clients: graphql-http audit, urql and Apollo Client 3 (FLOWS.md section 13)', function () {
  this.timeout(120_000);

  for (const mode of ['development', 'production'] as const) {
    it(`passes every MUST of the GraphQL over HTTP audit in ${mode}${mode === 'production' ? ' (but the introspection-only ones)' : ''}`, async () => {
      const s = await startTestServer(mode === 'production' ? { NODE_ENV: 'production' } : {});
      try {
        const results = await auditServer({ url: `${s.url}/graphql` });
        expect(results.length).to.be.greaterThan(40);
        const failedMusts = results.filter((r) => r.name.startsWith('MUST') && r.status !== 'ok').map((r) => `${r.id} ${r.name}`);
        const expected = mode === 'production' ? Object.keys(INTROSPECTION_ONLY) : [];
        expect(failedMusts.map((f) => f.split(' ')[0]).sort(), failedMusts.join('\n')).to.deep.equal(expected.sort());
      } finally {
        await s.stop();
      }
    });
  }

  describe('as a client team uses them', () => {
    let s: TestServer;
    let token: string;
    let limited: string;
    let dead: string;
    let expired: string;
    let userId: string;

    before(async () => {
      s = await startTestServer();
      const u = await makeUser(s, { role: Role.ADMIN });
      userId = u.user.id;
      token = await signIn(s, u);
      const other = await makeUser(s, { role: Role.ADMIN });
      limited = (await passwordOnly(s, other)).token;
      dead = await signIn(s, other);
      await s.gql('mutation { logout }', {}, dead);
      // A session past its end (12 hours), as a client finds it the next morning.
      const em = s.app.services.orm.em.fork();
      expired = s.app.services.sessions.create(em, userId, SessionStage.AUTHENTICATED);
      await em.flush();
      await em.nativeUpdate(Session, { tokenHash: hashToken(expired) }, { expiresAt: new Date(Date.now() - 1000) });
    });
    after(() => s?.stop());

    const ME = 'query Me { me { id } }';

    describe('urql with its defaults (queries as GET)', () => {
      const methods: string[] = [];
      const client = (bearer: string | null) =>
        new Client({
          url: `${s.url}/graphql`,
          exchanges: [fetchExchange],
          fetchOptions: () => (bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {}),
          // Only records the method; the request goes out unchanged.
          fetch: (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
            methods.push(init?.method ?? 'GET');
            return fetch(input, init);
          },
        });
      const codeOf = async (bearer: string | null) => {
        const result = await client(bearer).query(urqlGql(ME), {}).toPromise();
        expect(result.error?.networkError, String(result.error?.networkError)).to.equal(undefined);
        return result.error?.graphQLErrors[0]?.extensions?.code ?? null;
      };

      it('reads its data over GET with a token, and runs a mutation over POST', async () => {
        const result = await client(token).query(urqlGql(ME), {}).toPromise();
        expect(result.error).to.equal(undefined);
        expect(result.data).to.deep.equal({ me: { id: userId } });
        expect(methods.at(-1)).to.equal('GET');
        const created = await client(token)
          .mutation(urqlGql('mutation Make($n: String!) { createReseller(input: { name: $n }) { name } }'), { n: 'Via urql' })
          .toPromise();
        expect(created.data).to.deep.equal({ createReseller: { name: 'Via urql' } });
        expect(methods.at(-1)).to.equal('POST');
      });

      it('finds UNAUTHENTICATED for a missing, an expired and a dead token, TWO_FACTOR_REQUIRED for a TOTP_REQUIRED one, as GraphQL errors', async () => {
        expect(await codeOf(null)).to.equal('UNAUTHENTICATED');
        expect(await codeOf(expired)).to.equal('UNAUTHENTICATED');
        expect(await codeOf(dead)).to.equal('UNAUTHENTICATED');
        expect(await codeOf('garbage')).to.equal('UNAUTHENTICATED');
        expect(await codeOf(limited)).to.equal('TWO_FACTOR_REQUIRED');
      });
    });

    describe('Apollo Client 3 (POST, application/json)', () => {
      const client = (bearer: string | null) =>
        new ApolloClient({
          link: new HttpLink({ uri: `${s.url}/graphql`, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} }),
          cache: new InMemoryCache(),
          defaultOptions: { query: { fetchPolicy: 'no-cache' } },
        });
      const codeOf = async (bearer: string | null) => {
        try {
          await client(bearer).query({ query: apolloGql(ME) });
          return 'no error';
        } catch (error) {
          expect(error).to.be.instanceOf(ApolloError);
          const apolloError = error as ApolloError;
          // The code is in graphQLErrors, not hidden in a network error (as a 401 would make it).
          expect(apolloError.networkError, String(apolloError.networkError)).to.equal(null);
          return apolloError.graphQLErrors[0]?.extensions?.code;
        }
      };

      it('reads its data with a token', async () => {
        const result = await client(token).query({ query: apolloGql(ME) });
        expect(result.data).to.deep.equal({ me: { __typename: 'User', id: userId } });
      });

      it('finds UNAUTHENTICATED for a missing, an expired and a dead token, TWO_FACTOR_REQUIRED for a TOTP_REQUIRED one, as GraphQL errors', async () => {
        expect(await codeOf(null)).to.equal('UNAUTHENTICATED');
        expect(await codeOf(expired)).to.equal('UNAUTHENTICATED');
        expect(await codeOf(dead)).to.equal('UNAUTHENTICATED');
        expect(await codeOf(limited)).to.equal('TWO_FACTOR_REQUIRED');
      });
    });
  });
});
