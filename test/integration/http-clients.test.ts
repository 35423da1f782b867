// What HTTP clients see (FLOWS.md section 13): queries over GET work with a bearer token (urql's default),
// token-less simple requests are not executed, mutations stay POST-only; a missing and a dead
// token answer alike (HTTP 200, UNAUTHENTICATED in errors) with a WWW-Authenticate challenge.
import { expect } from 'chai';
import { Role } from '../../src/common/enums';
import { makeUser, passwordOnly, signIn } from '../factories';
import { codeOf, startTestServer, type TestServer } from '../helpers/server';

interface Answer {
  status: number;
  challenge: string | null;
  body: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
}

describe('HTTP clients: GET queries, one status per code, the bearer challenge (FLOWS.md section 13)', function () {
  this.timeout(60_000);
  let s: TestServer;
  let token: string;
  let userId: string;

  before(async () => {
    s = await startTestServer();
    const u = await makeUser(s, { role: Role.ADMIN });
    userId = u.user.id;
    token = await signIn(s, u);
  });
  after(() => s?.stop());

  async function get(query: string, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await fetch(`${s.url}/graphql?query=${encodeURIComponent(query)}`, { headers });
    return { status: res.status, challenge: res.headers.get('www-authenticate'), body: (await res.json()) as Answer['body'] };
  }

  it('a GET query with a bearer token is answered like the POST', async () => {
    const res = await get('{ me { id } }', { authorization: `Bearer ${token}` });
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ data: { me: { id: userId } } });
    // With variables and an operation name in the query string, as urql sends them.
    const url = `${s.url}/graphql?operationName=Me&query=${encodeURIComponent('query Me($n: Int) { users(first: $n) { totalCount } }')}&variables=${encodeURIComponent('{"n":1}')}`;
    const named = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(named.status).to.equal(200);
    expect(((await named.json()) as { data: { users: { totalCount: number } } }).data.users.totalCount).to.be.at.least(1);
  });

  it('a GET mutation is refused (405) and changes nothing, also with a token', async () => {
    const res = await get('mutation { createReseller(input: { name: "via GET" }) { id } }', { authorization: `Bearer ${token}` });
    expect(res.status).to.equal(405);
    expect(await s.app.services.orm.em.fork().count('Reseller', { name: 'via GET' })).to.equal(0);
  });

  it('a token-less GET query (a simple cross-site request) is not executed: UNAUTHENTICATED with the challenge, not a CSRF 400', async () => {
    const res = await get('{ me { id } }');
    expect([res.status, res.challenge]).to.deep.equal([200, 'Bearer']);
    expect(res.body).to.deep.equal({
      errors: [{ message: 'Not signed in, or the session has ended.', extensions: { code: 'UNAUTHENTICATED' } }],
    });
    // A token-less GET mutation and a token-less simple POST still meet the CSRF protection (400).
    expect((await get('mutation { logout }')).status).to.equal(400);
    const simplePost = await fetch(`${s.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ query: 'mutation { requestPasswordReset(email: "a@example.test") }' }),
    });
    expect(simplePost.status).to.equal(400);
  });

  it('a missing, a malformed, an unknown and a logged-out token all answer HTTP 200 with UNAUTHENTICATED in errors, with a challenge', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const ended = await signIn(s, u);
    await s.gql('mutation { logout }', {}, ended);
    const missing = await s.gql('{ me { id } }');
    expect([missing.status, codeOf(missing), missing.headers.get('www-authenticate')]).to.deep.equal([200, 'UNAUTHENTICATED', 'Bearer']);
    for (const dead of ['garbage', `ses_${'A'.repeat(43)}`, ended]) {
      const res = await s.gql('{ me { id } }', {}, dead);
      expect([res.status, codeOf(res), res.headers.get('www-authenticate')], dead).to.deep.equal([
        200,
        'UNAUTHENTICATED',
        'Bearer error="invalid_token"',
      ]);
      expect(res.data).to.equal(null);
    }
    // Also over GET.
    const viaGet = await get('{ me { id } }', { authorization: 'Bearer garbage' });
    expect([viaGet.status, viaGet.body.errors?.[0]?.extensions?.code, viaGet.challenge]).to.deep.equal([
      200,
      'UNAUTHENTICATED',
      'Bearer error="invalid_token"',
    ]);
  });

  it('a limited session gets TWO_FACTOR_REQUIRED with HTTP 200 and no challenge', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const limited = (await passwordOnly(s, u)).token;
    const res = await s.gql('{ me { id } }', {}, limited);
    expect([res.status, codeOf(res), res.headers.get('www-authenticate')]).to.deep.equal([200, 'TWO_FACTOR_REQUIRED', null]);
  });
});
