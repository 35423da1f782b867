// The mandatory-2FA gate of FLOWS.md sections 2 and 3, checked for EVERY root field of Query and
// Mutation. The field list comes from the schema itself, so a field added later cannot slip past: it
// is called without a session, with a TOTP_REQUIRED session and with a TWO_FACTOR_SETUP_REQUIRED
// session, and must answer the gate's code (and change nothing) unless the contract opens it.
import { expect } from 'chai';
import { Role } from '../../src/common/enums';
import { buildTypeSchema } from '../../src/graphql/schema';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { DeliveryState, WebhookDelivery } from '../../src/modules/webhooks/webhook-delivery.entity';
import { WebhookEndpoint } from '../../src/modules/webhooks/webhook-endpoint.entity';
import { WebhookEvent } from '../../src/modules/webhooks/webhook-event.entity';
import { makeCustomer, makeLicense, makeReseller, makeUser, passwordOnly, signIn, type TestUser } from '../factories';
import { rootFields, snapshot, type RootField, type Targets } from '../helpers/root-fields';
import { codeOf, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

const PUBLIC = new Set(['login', 'requestPasswordReset', 'resetPassword', 'beginTwoFactorSetup', 'activateTwoFactor']);
const GATE_CODES = new Set(['UNAUTHENTICATED', 'TWO_FACTOR_REQUIRED', 'FORBIDDEN']);

async function loginFailures(s: TestServer): Promise<number> {
  return s.app.services.orm.em.fork().count(AuditEvent, { action: 'LOGIN_FAILED' });
}

type Outcome = { field: RootField; result: GqlResult };

describe('mandatory 2FA gate on every root field', function () {
  this.timeout(120000);

  let s: TestServer;
  let fields: RootField[];
  let totpUser: TestUser;
  let setupUser: TestUser;
  let admin: TestUser;
  /** Every response of the field sweeps, for the checks that span them all. */
  const seen: Outcome[] = [];

  before(async () => {
    s = await startTestServer();
    const reseller = await makeReseller(s);
    const customer = await makeCustomer(s, reseller);
    const license = await makeLicense(s, customer);
    const victim = await makeUser(s, { role: Role.RESELLER, reseller });
    admin = await makeUser(s, { role: Role.ADMIN });
    // The limited sessions belong to admins: if the gate let anything through, it would be allowed to act.
    totpUser = await makeUser(s, { role: Role.ADMIN, twoFactor: true });
    setupUser = await makeUser(s, { role: Role.ADMIN, twoFactor: false });

    const adminToken = await signIn(s, admin);
    const created = await s.gql<{ createApiToken: { apiToken: { id: string } } }>(
      'mutation { createApiToken(name: "gate target") { apiToken { id } } }',
      {},
      adminToken,
    );
    expect(created.errors, JSON.stringify(created.errors)).to.equal(undefined);

    // A webhook endpoint with one delivery (the worker is off: it stays PENDING).
    const endpoint = await s.gql<{ createWebhookEndpoint: { endpoint: { id: string } } }>(
      'mutation { createWebhookEndpoint(url: "https://erp.example.test/hooks", events: ["license.created"]) { endpoint { id } } }',
      {},
      adminToken,
    );
    expect(endpoint.errors, JSON.stringify(endpoint.errors)).to.equal(undefined);
    const licensed = await s.gql(
      'mutation($c: ID!) { createLicense(input: { customerId: $c, kind: MDM, seats: 1, validUntil: "2031-01-01T00:00:00Z" }) { id } }',
      { c: customer.id },
      adminToken,
    );
    expect(licensed.errors, JSON.stringify(licensed.errors)).to.equal(undefined);
    const em = s.app.services.orm.em.fork();
    const [message] = await em.find(WebhookEvent, {});
    const delivery = em.create(WebhookDelivery, {
      endpoint: em.getReference(WebhookEndpoint, endpoint.data!.createWebhookEndpoint.endpoint.id),
      message: message!,
      event: message!.type,
      redacted: false,
      state: DeliveryState.FAILED,
      attempts: 8,
      nextAttemptAt: null,
      createdAt: new Date(),
    });
    await em.flush();

    const targets: Targets = {
      reseller: reseller.id,
      customer: customer.id,
      license: license.id,
      user: victim.user.id,
      apiToken: created.data!.createApiToken.apiToken.id,
      webhookEndpoint: endpoint.data!.createWebhookEndpoint.endpoint.id,
      webhookDelivery: delivery!.id,
    };
    fields = rootFields(await buildTypeSchema(), targets);
  });
  after(() => s?.stop());

  /** Calls every field (except `skip`) with the token; returns the outcomes in schema order. */
  async function sweep(token: string | null, skip: Set<string> = new Set()): Promise<Outcome[]> {
    const out: Outcome[] = [];
    for (const field of fields) {
      if (skip.has(field.name)) continue;
      const result = await s.gql(field.document, {}, token);
      const outcome = { field, result };
      out.push(outcome);
      seen.push(outcome);
    }
    return out;
  }

  const describeResult = (o: Outcome) =>
    `${o.field.label}: HTTP ${o.result.status} ${JSON.stringify(o.result.errors?.map((e) => ({ code: e.extensions?.code, message: e.message })) ?? o.result.data)}`;

  /** The public field answered from its resolver, not from the gate. */
  function reachedResolver(o: Outcome, loginFailuresWritten: number): boolean {
    const code = codeOf(o.result);
    if (o.result.status >= 500) return false;
    // A failed login is UNAUTHENTICATED by contract; the LOGIN_FAILED audit row proves the resolver ran.
    if (o.field.name === 'login' && code === 'UNAUTHENTICATED') return loginFailuresWritten === 1;
    // Only the reseller portal redeems activation tokens: the resolver's own FORBIDDEN says so (FLOWS.md section 8).
    if (o.field.name === 'beginTwoFactorSetup' && code === 'FORBIDDEN') return /reseller portal/.test(o.result.errors?.[0]?.message ?? '');
    return code === undefined || !GATE_CODES.has(code);
  }

  async function sweepPublic(token: string | null): Promise<string[]> {
    const failures: string[] = [];
    for (const field of fields.filter((f) => PUBLIC.has(f.name))) {
      const before = await loginFailures(s);
      const result = await s.gql(field.document, {}, token);
      const outcome = { field, result };
      seen.push(outcome);
      if (!reachedResolver(outcome, (await loginFailures(s)) - before)) failures.push(describeResult(outcome));
    }
    return failures;
  }

  it('finds the contract fields in the schema and builds a valid operation for each', async () => {
    const names = fields.map((f) => f.label);
    for (const name of [
      'Query.me',
      'Query.node',
      'Query.licenses',
      'Query.auditEvents',
      'Mutation.createLicense',
      'Mutation.createLicenses',
      'Mutation.logout',
    ]) {
      expect(names).to.include(name);
    }
    for (const name of PUBLIC) expect(names).to.include(`Mutation.${name}`);
    // Every generated document must at least pass validation, or the sweeps would prove nothing.
    const invalid: string[] = [];
    for (const field of fields) {
      const res = await s.gql(field.document, {}, null);
      if (res.status === 400) invalid.push(`${field.label}: ${JSON.stringify(res.errors)}\n  ${field.document}`);
    }
    expect(invalid, invalid.join('\n')).to.deep.equal([]);
  });

  it('without a token, every protected field answers UNAUTHENTICATED and changes nothing', async () => {
    const before = await snapshot(s);
    const outcomes = await sweep(null, PUBLIC);
    const failures = outcomes
      .filter((o) => codeOf(o.result) !== 'UNAUTHENTICATED' || o.result.data?.[o.field.name] != null)
      .map(describeResult);
    expect(failures, `fields not refused with UNAUTHENTICATED:\n${failures.join('\n')}`).to.deep.equal([]);
    expect(outcomes.length).to.be.greaterThan(20);
    expect(await snapshot(s)).to.deep.equal(before);
  });

  it('without a token, the five public mutations are not stopped by the gate', async () => {
    const failures = await sweepPublic(null);
    expect(failures, `public fields refused by the gate:\n${failures.join('\n')}`).to.deep.equal([]);
  });

  it('a TOTP_REQUIRED session gets TWO_FACTOR_REQUIRED on every field but verifyTotp, verifyRecoveryCode, logout and the public five, and changes nothing', async () => {
    const session = await passwordOnly(s, totpUser);
    expect(session.stage).to.equal('TOTP_REQUIRED');
    const before = await snapshot(s);
    const allowed = new Set([...PUBLIC, 'verifyTotp', 'verifyRecoveryCode', 'logout']);
    const outcomes = await sweep(session.token, allowed);
    const failures = outcomes
      .filter((o) => codeOf(o.result) !== 'TWO_FACTOR_REQUIRED' || o.result.data?.[o.field.name] != null)
      .map(describeResult);
    expect(failures, `fields not refused with TWO_FACTOR_REQUIRED:\n${failures.join('\n')}`).to.deep.equal([]);
    expect(await snapshot(s)).to.deep.equal(before);

    // The stage's own operation is admitted: a malformed code fails in the resolver, not at the gate.
    const verify = await s.gql('mutation { verifyTotp(code: "x") { stage } }', {}, session.token);
    seen.push({ field: fields.find((f) => f.name === 'verifyTotp')!, result: verify });
    expect(codeOf(verify), JSON.stringify(verify.errors)).to.equal('BAD_USER_INPUT');

    const publicFailures = await sweepPublic(session.token);
    expect(publicFailures, `public fields refused by the gate:\n${publicFailures.join('\n')}`).to.deep.equal([]);

    // The session survived the sweep: it is still the same limited session.
    const again = await s.gql('{ me { id } }', {}, session.token);
    expect(codeOf(again)).to.equal('TWO_FACTOR_REQUIRED');
  });

  it('a TWO_FACTOR_SETUP_REQUIRED session gets TWO_FACTOR_REQUIRED on every field but requestTwoFactorActivation, logout and the public five, and changes nothing', async () => {
    const session = await passwordOnly(s, setupUser);
    expect(session.stage).to.equal('TWO_FACTOR_SETUP_REQUIRED');
    const before = await snapshot(s);
    const allowed = new Set([...PUBLIC, 'requestTwoFactorActivation', 'logout']);
    const outcomes = await sweep(session.token, allowed);
    const failures = outcomes
      .filter((o) => codeOf(o.result) !== 'TWO_FACTOR_REQUIRED' || o.result.data?.[o.field.name] != null)
      .map(describeResult);
    expect(failures, `fields not refused with TWO_FACTOR_REQUIRED:\n${failures.join('\n')}`).to.deep.equal([]);
    expect(await snapshot(s)).to.deep.equal(before);

    // "Enable 2FA" is what this stage is for.
    const activation = await s.gql<{ requestTwoFactorActivation: { method: string } }>(
      'mutation { requestTwoFactorActivation { method redirectUrl } }',
      {},
      session.token,
    );
    seen.push({ field: fields.find((f) => f.name === 'requestTwoFactorActivation')!, result: activation });
    expect(activation.errors, JSON.stringify(activation.errors)).to.equal(undefined);
    expect(activation.data!.requestTwoFactorActivation.method).to.equal('EMAIL');

    const publicFailures = await sweepPublic(session.token);
    expect(publicFailures, `public fields refused by the gate:\n${publicFailures.join('\n')}`).to.deep.equal([]);
  });

  it('an AUTHENTICATED session passes the gate for me and for every Query field', async () => {
    const token = await signIn(s, admin);
    const me = await s.gql<{ me: { id: string; email: string } }>('{ me { id email } }', {}, token);
    expect(me.status).to.equal(200);
    expect(me.errors, JSON.stringify(me.errors)).to.equal(undefined);
    expect(me.data!.me.email).to.equal(admin.email);

    const failures: string[] = [];
    for (const field of fields.filter((f) => f.operation === 'query')) {
      const result = await s.gql(field.document, {}, token);
      seen.push({ field, result });
      if (result.errors) failures.push(describeResult({ field, result }));
    }
    expect(failures, `queries refused for an AUTHENTICATED admin:\n${failures.join('\n')}`).to.deep.equal([]);
  });

  it('never answers with the shield default "Not Authorised!" or an INTERNAL_SERVER_ERROR', () => {
    expect(seen.length).to.be.greaterThan(3 * 20);
    const bad = seen.filter(
      (o) =>
        o.result.status >= 500 ||
        (o.result.errors ?? []).some(
          (e) => e.message === 'Not Authorised!' || e.extensions?.code === 'INTERNAL_SERVER_ERROR' || !e.extensions?.code,
        ),
    );
    expect(bad.map(describeResult)).to.deep.equal([]);
  });

  describe('bad credentials in the Authorization header', () => {
    const cases: [string, string][] = [
      ['a garbage bearer token', 'Bearer garbage'],
      ['a well-formed but unknown session token', `Bearer lps_${'A'.repeat(43)}`],
      ['a well-formed but unknown API token', `Bearer lpt_${'B'.repeat(43)}`],
      ['a non-Bearer Authorization header', 'Basic dXNlcjpwYXNzd29yZA=='],
      ['a Bearer header without a token', 'Bearer '],
    ];
    for (const [what, header] of cases) {
      it(`${what} gets UNAUTHENTICATED (HTTP 200, invalid_token challenge) (never a 500)`, async () => {
        const res = await s.gql('{ me { id } }', {}, null, { authorization: header });
        expect(res.status, JSON.stringify(res.errors)).to.equal(200);
        expect(codeOf(res)).to.equal('UNAUTHENTICATED');
        expect(res.data).to.equal(null);
        // Like a missing token (FLOWS.md section 13), with the RFC 6750 challenge naming the token.
        expect(res.headers.get('www-authenticate')).to.equal('Bearer error="invalid_token"');
      });
    }

    it('a bad token on a mutation writes nothing', async () => {
      const before = await snapshot(s);
      const res = await s.gql('mutation { createReseller(input: { name: "via garbage token" }) { id } }', {}, null, {
        authorization: 'Bearer garbage',
      });
      expect(res.status).to.equal(200);
      expect(codeOf(res)).to.equal('UNAUTHENTICATED');
      expect(await snapshot(s)).to.deep.equal(before);
    });

    it('a stale token does not stop the public operations: login still works', async () => {
      const stale = `Bearer lps_${'C'.repeat(43)}`;
      const res = await s.gql<{ login: { stage: string } }>(
        'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { stage } }',
        { e: admin.email, p: admin.password },
        null,
        { authorization: stale },
      );
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      expect(res.data!.login.stage).to.equal('TOTP_REQUIRED');
    });
  });

  describe('logout from a limited session', () => {
    for (const [stage, pick] of [
      ['TOTP_REQUIRED', () => totpUser],
      ['TWO_FACTOR_SETUP_REQUIRED', () => setupUser],
    ] as const) {
      it(`ends a ${stage} session, whose token then gets UNAUTHENTICATED`, async () => {
        const session = await passwordOnly(s, pick());
        expect(session.stage).to.equal(stage);
        const out = await s.gql<{ logout: boolean }>('mutation { logout }', {}, session.token);
        expect(out.errors, JSON.stringify(out.errors)).to.equal(undefined);
        expect(out.data).to.deep.equal({ logout: true });

        const me = await s.gql('{ me { id } }', {}, session.token);
        expect(me.status).to.equal(200);
        expect(codeOf(me)).to.equal('UNAUTHENTICATED');
        // Nor can the dead token still do what its stage allowed.
        const stageOp =
          stage === 'TOTP_REQUIRED'
            ? 'mutation { verifyTotp(code: "123456") { stage } }'
            : 'mutation { requestTwoFactorActivation { method } }';
        const op = await s.gql(stageOp, {}, session.token);
        expect(op.status).to.equal(200);
        expect(codeOf(op)).to.equal('UNAUTHENTICATED');
        const again = await s.gql('mutation { logout }', {}, session.token);
        expect(again.status).to.equal(200);
      });
    }
  });
});
