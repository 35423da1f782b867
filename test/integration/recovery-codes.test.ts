// Recovery codes (FLOWS.md section 11), as the user who lost the phone and an attacker see them:
// generated with a fresh TOTP code and shown once, stored as hashes, single use (also under
// concurrency), counted in the per-user TOTP lockout, audited and e-mailed, discarded by a 2FA reset.
import { expect } from 'chai';
import { Role, SessionStage } from '../../src/common/enums';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { RecoveryCode } from '../../src/modules/auth/recovery-code.entity';
import { totpCode } from '../../src/modules/auth/totp';
import { freshCode, makeUser, passwordOnly, signIn, wrongCode, type TestUser } from '../factories';
import { codeOf, ok, startTestServer, type TestServer } from '../helpers/server';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

const GENERATE = 'mutation($c: String!) { generateRecoveryCodes(totpCode: $c) }';
const VERIFY = 'mutation($c: String!) { verifyRecoveryCode(code: $c) { token stage } }';
const VERIFY_TOTP = 'mutation($c: String!) { verifyTotp(code: $c) { token stage } }';
const REMAINING = '{ me { id recoveryCodesRemaining } }';

describe('recovery codes (FLOWS.md section 11)', function () {
  this.timeout(60_000);
  let s: TestServer;

  before(async () => (s = await startTestServer()));
  after(() => s?.stop());

  /** A user with ten fresh codes (the session that generated them is returned too). */
  async function withCodes(role = Role.ADMIN): Promise<{ u: TestUser; session: string; codes: string[] }> {
    const u = await makeUser(s, { role });
    const session = await sessionOf(u);
    const codes = ok(await s.gql<Json>(GENERATE, { c: freshCode(u) }, session)).generateRecoveryCodes as string[];
    return { u, session, codes };
  }
  /** An AUTHENTICATED session made directly (a user has only two fresh TOTP codes per 30 seconds for the API). */
  async function sessionOf(u: TestUser): Promise<string> {
    const em = s.app.services.orm.em.fork();
    const token = s.app.services.sessions.create(em, u.user.id, SessionStage.AUTHENTICATED);
    await em.flush();
    return token;
  }
  const limited = async (u: TestUser) => (await passwordOnly(s, u)).token;
  const verify = async (u: TestUser, code: string) => s.gql<Json>(VERIFY, { c: code }, await limited(u));
  const remaining = async (token: string) => ok(await s.gql<Json>(REMAINING, {}, token)).me.recoveryCodesRemaining;
  const mailsTo = async (email: string) => {
    await s.app.services.background.drain();
    return s.outbox().filter((mail) => mail.includes(email));
  };

  it('generates ten distinct codes of 80 bits, shown once and stored only as password-grade hashes; e-mails the user', async () => {
    const { u, session, codes } = await withCodes();
    expect(codes).to.have.length(10);
    expect(new Set(codes).size).to.equal(10);
    for (const code of codes) expect(code).to.match(/^[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){3}$/);
    expect(await remaining(session)).to.equal(10);
    const rows = await s.app.services.orm.em.fork().find(RecoveryCode, { user: u.user.id });
    expect(rows).to.have.length(10);
    for (const row of rows) {
      expect(row.codeHash).to.match(/^scrypt\$/);
      for (const code of codes) expect(row.codeHash).to.not.include(code.replace(/-/g, ''));
    }
    expect((await mailsTo(u.email)).some((m) => /new recovery codes/i.test(m))).to.equal(true);
    expect((await mailsTo(u.email)).some((m) => codes.some((code) => m.includes(code)))).to.equal(false);
  });

  it('needs a signed-in session and a fresh, valid code: limited sessions, API tokens, wrong and replayed codes are refused', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const session = await signIn(s, u);
    const apiToken = ok(await s.gql<Json>('mutation { createApiToken(name: "script") { token } }', {}, session)).createApiToken.token;
    expect(codeOf(await s.gql(GENERATE, { c: totpCode(u.secret!) }, apiToken))).to.equal('FORBIDDEN');
    expect(codeOf(await s.gql(GENERATE, { c: totpCode(u.secret!) }, await limited(u)))).to.equal('TWO_FACTOR_REQUIRED');
    expect(codeOf(await s.gql(GENERATE, { c: totpCode(u.secret!) }))).to.equal('UNAUTHENTICATED');
    expect(codeOf(await s.gql(GENERATE, { c: wrongCode(u.secret!) }, session))).to.equal('UNAUTHENTICATED');
    expect(codeOf(await s.gql(GENERATE, { c: '12345x' }, session))).to.equal('BAD_USER_INPUT');
    expect(await remaining(session)).to.equal(0);
    // A code works once: the same code again is a replay.
    const code = freshCode(u);
    const codes = ok(await s.gql<Json>(GENERATE, { c: code }, session)).generateRecoveryCodes as string[];
    expect(codeOf(await s.gql(GENERATE, { c: code }, session))).to.equal('UNAUTHENTICATED');
    expect(await remaining(session)).to.equal(10);
    expect(ok(await verify(u, codes[0]!)).verifyRecoveryCode.stage).to.equal('AUTHENTICATED');
  });

  it('a code signs in once instead of a TOTP code: AUTHENTICATED, the limited token dead, audited and e-mailed with the number left', async () => {
    const { u, codes } = await withCodes();
    const token = await limited(u);
    // Lower case, without dashes, with spaces: as people type it.
    const typed = codes[3]!.toLowerCase().replace(/-/g, ' ');
    const res = ok(await s.gql<Json>(VERIFY, { c: typed }, token)).verifyRecoveryCode;
    expect(res.stage).to.equal('AUTHENTICATED');
    expect(await remaining(res.token)).to.equal(9);
    expect(codeOf(await s.gql('{ me { id } }', {}, token))).to.equal('UNAUTHENTICATED');
    const used = await mailsTo(u.email);
    expect(used.some((m) => /recovery code was used/i.test(m) && /Recovery codes left: 9/.test(m))).to.equal(true);
    const events = await s.app.services.orm.em.fork().find(AuditEvent, { targetId: u.user.id, action: 'RECOVERY_CODE_USED' });
    expect(events).to.have.length(1);
    expect(JSON.parse(events[0]!.changes!)).to.deep.equal({ recoveryCodesRemaining: { from: 10, to: 9 } });
  });

  it("a used code, another user's code, an old set's code and a malformed code never work", async () => {
    const a = await withCodes();
    const b = await withCodes();
    ok(await verify(a.u, a.codes[0]!));
    expect(codeOf(await verify(a.u, a.codes[0]!))).to.equal('UNAUTHENTICATED');
    expect(codeOf(await verify(a.u, b.codes[0]!))).to.equal('UNAUTHENTICATED');
    expect(codeOf(await verify(a.u, 'ABCD-EFGH'))).to.equal('BAD_USER_INPUT');
    // b generates a new set: its old codes stop working, the new ones work.
    const fresh = ok(await s.gql<Json>(GENERATE, { c: freshCode(b.u) }, b.session)).generateRecoveryCodes as string[];
    expect(codeOf(await verify(b.u, b.codes[1]!))).to.equal('UNAUTHENTICATED');
    expect(ok(await verify(b.u, fresh[1]!)).verifyRecoveryCode.stage).to.equal('AUTHENTICATED');
    expect(await remaining(b.session)).to.equal(9);
  });

  it('of two parallel uses of one code (two sessions), exactly one signs in', async () => {
    for (let round = 0; round < 3; round++) {
      const { u, codes } = await withCodes();
      const [t1, t2] = [await limited(u), await limited(u)];
      const results = await Promise.all([s.gql<Json>(VERIFY, { c: codes[0] }, t1), s.gql<Json>(VERIFY, { c: codes[0] }, t2)]);
      const outcomes = results.map((r) => (r.errors ? codeOf(r) : r.data.verifyRecoveryCode.stage)).sort();
      expect(outcomes, `round ${round}`).to.deep.equal(['AUTHENTICATED', 'UNAUTHENTICATED']);
      expect(await s.app.services.orm.em.fork().count(RecoveryCode, { user: u.user.id, usedAt: null })).to.equal(9);
    }
  });

  it('failures count in the same per-user lockout as TOTP codes: 3 wrong TOTP + 2 wrong recovery codes lock both', async () => {
    const { u, codes } = await withCodes();
    for (let i = 0; i < 3; i++)
      expect(codeOf(await s.gql(VERIFY_TOTP, { c: wrongCode(u.secret!) }, await limited(u)))).to.equal('UNAUTHENTICATED');
    expect(codeOf(await verify(u, 'ZZZZ-ZZZZ-ZZZZ-ZZZZ'))).to.equal('UNAUTHENTICATED');
    expect(codeOf(await verify(u, 'not a code'))).to.equal('BAD_USER_INPUT');
    expect(codeOf(await verify(u, codes[0]!))).to.equal('RATE_LIMITED');
    expect(codeOf(await s.gql(VERIFY_TOTP, { c: totpCode(u.secret!) }, await limited(u)))).to.equal('RATE_LIMITED');
    // The locked attempt did not use the code.
    expect(await s.app.services.orm.em.fork().count(RecoveryCode, { user: u.user.id, usedAt: null })).to.equal(10);
  });

  it('is only on the caller\u2019s own user: null on every other user', async () => {
    const { session } = await withCodes();
    const others = ok(await s.gql<Json>('{ me { id } users(first: 20) { edges { node { id recoveryCodesRemaining } } } }', {}, session));
    for (const edge of others.users.edges) {
      expect(edge.node.recoveryCodesRemaining, edge.node.id).to.equal(edge.node.id === others.me.id ? 10 : null);
    }
  });

  it('resetUserTwoFactor discards the codes', async () => {
    const { u, codes } = await withCodes(Role.ADMIN);
    const admin = await signIn(s, await makeUser(s, { role: Role.ADMIN }));
    ok(await s.gql('mutation($id: ID!) { resetUserTwoFactor(userId: $id) { id } }', { id: u.user.id }, admin));
    expect(await s.app.services.orm.em.fork().count(RecoveryCode, { user: u.user.id })).to.equal(0);
    // Without 2FA the password leads to setup, never to a recovery-code sign-in.
    const { token, stage } = await passwordOnly(s, u);
    expect(stage).to.equal('TWO_FACTOR_SETUP_REQUIRED');
    expect(codeOf(await s.gql(VERIFY, { c: codes[0] }, token))).to.equal('TWO_FACTOR_REQUIRED');
  });
});
