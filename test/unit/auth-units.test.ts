// The building blocks of sign-in and licensing, without a server: TOTP, token and secret handling,
// password hashing, license keys and the configuration loader.
import { expect } from 'chai';
import { createHash, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { assertAcceptablePassword, hashPassword, verifyPassword } from '../../src/modules/auth/password';
import { hashToken, isWellFormedToken, newToken, SecretBox, TokenPrefix } from '../../src/modules/auth/secrets';
import { base32Encode, currentStep, generateTotpSecret, isWellFormedCode, matchTotp, totpCode } from '../../src/modules/auth/totp';
import { generateLicenseKey, isValidLicenseKey, KEY_ALPHABET } from '../../src/modules/licenses/license-key';

const STEP = 30_000;

describe('TOTP (RFC 6238, SHA-1, 6 digits, 30 s)', () => {
  // RFC 6238 appendix B: the ASCII secret "12345678901234567890"; the 6-digit codes are the last six
  // digits of the 8-digit reference values.
  const RFC_SECRET = base32Encode(Buffer.from('12345678901234567890', 'ascii'));
  const secret = generateTotpSecret();
  // Mid-step, so that +-1 step stays inside the window whatever rounding is used.
  const now = 1_900_000_005_000;
  const step = currentStep(now);

  it('produces the RFC 6238 reference codes', () => {
    expect(RFC_SECRET).to.equal('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    expect(totpCode(RFC_SECRET, 59_000)).to.equal('287082');
    expect(totpCode(RFC_SECRET, 1_111_111_109_000)).to.equal('081804');
    expect(totpCode(RFC_SECRET, 1_234_567_890_000)).to.equal('005924');
  });

  it('accepts the codes of the previous, current and next step and says which step matched', () => {
    for (const delta of [-1, 0, 1]) {
      expect(matchTotp(secret, totpCode(secret, now + delta * STEP), null, now), `delta ${delta}`).to.equal(step + delta);
    }
  });

  it('refuses codes two steps away in either direction', () => {
    const inWindow = new Set([-1, 0, 1].map((d) => totpCode(secret, now + d * STEP)));
    for (const delta of [-2, 2, -3, 3]) {
      const code = totpCode(secret, now + delta * STEP);
      if (inWindow.has(code)) continue; // a one-in-a-million collision with an in-window code
      expect(matchTotp(secret, code, null, now), `delta ${delta}`).to.equal(null);
    }
    // The RFC secret at a fixed instant: deterministic, no collision possible.
    const t = 1_111_111_095_000;
    expect(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, t - 2 * STEP), null, t)).to.equal(null);
    expect(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, t + 2 * STEP), null, t)).to.equal(null);
    expect(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, t + STEP), null, t)).to.equal(currentStep(t) + 1);
  });

  it('refuses a code whose step is not newer than the last accepted step (no replay)', () => {
    const code = totpCode(secret, now);
    expect(matchTotp(secret, code, step, now)).to.equal(null);
    expect(matchTotp(secret, code, step + 1, now)).to.equal(null);
    expect(matchTotp(secret, totpCode(secret, now - STEP), step - 1, now)).to.equal(null);
    // One step older than the code is fine: that is the normal case.
    expect(matchTotp(secret, code, step - 1, now)).to.equal(step);
    expect(matchTotp(secret, totpCode(secret, now + STEP), step, now)).to.equal(step + 1);
  });

  it('refuses anything that is not exactly six ASCII digits', () => {
    const good = totpCode(secret, now);
    for (const bad of [
      '12345',
      '1234567',
      '12345x',
      ' 123456',
      '123456 ',
      'abcdef',
      '',
      `${good}0`,
      ` ${good}`,
      '１２３４５６',
      '١٢٣٤٥٦',
      '12 456',
    ]) {
      expect(isWellFormedCode(bad), JSON.stringify(bad)).to.equal(false);
      expect(matchTotp(secret, bad, null, now), JSON.stringify(bad)).to.equal(null);
    }
    expect(isWellFormedCode(good)).to.equal(true);
    expect(isWellFormedCode('000000')).to.equal(true);
  });

  it('generates base32 secrets of 160 random bits: 32 characters, different every time', () => {
    const secrets = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const s = generateTotpSecret();
      expect(s).to.match(/^[A-Z2-7]{32}$/);
      secrets.add(s);
    }
    expect(secrets.size).to.equal(50);
  });

  it('encodes base32 as RFC 4648 without padding', () => {
    expect(base32Encode(Buffer.from('f'))).to.equal('MY');
    expect(base32Encode(Buffer.from('foobar'))).to.equal('MZXW6YTBOI');
    expect(base32Encode(Buffer.alloc(20, 0xff))).to.equal('7'.repeat(32));
  });
});

describe('tokens and sealed secrets', () => {
  const box = new SecretBox('unit-test-secret-key-0123456789abcdef');

  it('seals and opens a secret for the same owner; each seal looks different', () => {
    const a = box.seal('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', 'usr_1');
    const b = box.seal('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', 'usr_1');
    expect(a).to.not.equal(b);
    expect(a).to.not.contain('JBSWY3DP');
    expect(box.open(a, 'usr_1')).to.equal('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
    expect(box.open(b, 'usr_1')).to.equal('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
  });

  it('refuses to open a secret for another owner, with another key, or after tampering', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', 'usr_1');
    expect(() => box.open(sealed, 'usr_2')).to.throw();
    expect(() => new SecretBox('another-secret-key-0123456789abcdefgh').open(sealed, 'usr_1')).to.throw();
    const [version, iv, tag, body] = sealed.split(':') as [string, string, string, string];
    const flip = (b64: string) => {
      const bytes = Buffer.from(b64, 'base64');
      bytes[0] = bytes[0]! ^ 1;
      return bytes.toString('base64');
    };
    expect(() => box.open([version, iv, tag, flip(body)].join(':'), 'usr_1')).to.throw();
    expect(() => box.open([version, iv, flip(tag), body].join(':'), 'usr_1')).to.throw();
    expect(() => box.open([version, flip(iv), tag, body].join(':'), 'usr_1')).to.throw();
    expect(() => box.open(['v2', iv, tag, body].join(':'), 'usr_1')).to.throw();
    expect(() => box.open('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', 'usr_1')).to.throw();
  });

  it('issues bearer tokens as prefix plus 256 random bits in 43 base64url characters', () => {
    const seen = new Set<string>();
    for (const prefix of Object.values(TokenPrefix)) {
      for (let i = 0; i < 20; i++) {
        const token = newToken(prefix);
        expect(token.startsWith(prefix)).to.equal(true);
        expect(token.slice(prefix.length)).to.match(/^[A-Za-z0-9_-]{43}$/);
        expect(isWellFormedToken(token, prefix)).to.equal(true);
        seen.add(token);
      }
    }
    expect(seen.size).to.equal(60);
    const session = newToken(TokenPrefix.session);
    expect(isWellFormedToken(session, TokenPrefix.account)).to.equal(false);
    expect(isWellFormedToken(session.slice(0, -1))).to.equal(false);
    expect(isWellFormedToken(`${session}A`)).to.equal(false);
    expect(isWellFormedToken(`xyz_${session.slice(4)}`)).to.equal(false);
  });

  it('stores tokens as their SHA-256 in hex', () => {
    expect(hashToken('abc')).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const token = newToken(TokenPrefix.apiToken);
    expect(hashToken(token)).to.equal(createHash('sha256').update(token).digest('hex'));
    expect(hashToken(token)).to.match(/^[0-9a-f]{64}$/);
  });
});

describe('password hashing (scrypt)', function () {
  this.timeout(20000);
  let stored: string;
  before(async () => (stored = await hashPassword('correct horse battery staple')));

  it('verifies the right password and refuses a wrong one', async () => {
    expect(await verifyPassword('correct horse battery staple', stored)).to.equal(true);
    expect(await verifyPassword('correct horse battery stapl', stored)).to.equal(false);
    expect(await verifyPassword('Correct horse battery staple', stored)).to.equal(false);
    expect(await verifyPassword('', stored)).to.equal(false);
  });

  it('stores the parameters N=2^15, r=8, p=3 (OWASP) and a random salt in the hash string', async () => {
    expect(stored).to.match(/^scrypt\$15\$8\$3\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/);
    expect(stored).to.not.contain('correct horse');
    const again = await hashPassword('correct horse battery staple');
    expect(again).to.not.equal(stored);
    expect(again.split('$').slice(0, 4)).to.deep.equal(stored.split('$').slice(0, 4));
  });

  it('verifies against the parameters stored with the hash, not the current defaults', async () => {
    const salt = randomBytes(16);
    const key = scryptSync('an older password', salt, 32, { N: 2 ** 10, r: 8, p: 1 });
    const old = ['scrypt', 10, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
    expect(await verifyPassword('an older password', old)).to.equal(true);
    expect(await verifyPassword('another password', old)).to.equal(false);
    expect(await verifyPassword('an older password', `bcrypt$${old.slice('scrypt$'.length)}`)).to.equal(false);
  });

  it('refuses passwords shorter than 12 characters, longer than 128, or equal to the e-mail address', () => {
    expect(() => assertAcceptablePassword('short-pw-1', 'a@example.test')).to.throw(/at least 12/);
    expect(() => assertAcceptablePassword('x'.repeat(6) + 'yz'.repeat(62), 'a@example.test')).to.throw(/at most 128/);
    expect(() => assertAcceptablePassword('alice.smith@example.test', 'Alice.Smith@example.test')).to.throw(/e-mail/);
    expect(() => assertAcceptablePassword('aaaaaaaaaaaaaaaa', 'a@example.test')).to.throw(/too simple/);
    expect(() => assertAcceptablePassword('a long and new password', 'a@example.test')).to.not.throw();
  });
});

describe('license keys', () => {
  const KEY_SHAPE = /^[2-9A-HJ-NP-Z]{5}(-[2-9A-HJ-NP-Z]{5}){4}$/;

  it('are five groups of five characters from an alphabet without 0, O, 1 and I', () => {
    expect(KEY_ALPHABET).to.have.length(32);
    for (const c of '01OI') expect(KEY_ALPHABET).to.not.contain(c);
    const keys = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const key = generateLicenseKey();
      expect(key).to.match(KEY_SHAPE);
      expect(isValidLicenseKey(key)).to.equal(true);
      expect(isValidLicenseKey(key.toLowerCase())).to.equal(true);
      expect(isValidLicenseKey(key.replace(/-/g, ''))).to.equal(true);
      keys.add(key);
    }
    expect(keys.size).to.equal(200);
  });

  it('recognise every single-character substitution of a generated key', () => {
    for (let n = 0; n < 40; n++) {
      const chars = generateLicenseKey().replace(/-/g, '');
      for (let i = 0; i < chars.length; i++) {
        for (const c of KEY_ALPHABET) {
          if (c === chars[i]) continue;
          const typo = chars.slice(0, i) + c + chars.slice(i + 1);
          expect(isValidLicenseKey(typo), `${chars} -> ${typo}`).to.equal(false);
        }
      }
    }
  });

  it('recognise every transposition of two adjacent characters, including the check character', () => {
    const check = (chars: string) => {
      for (let i = 0; i + 1 < chars.length; i++) {
        if (chars[i] === chars[i + 1]) continue;
        const swapped = chars.slice(0, i) + chars[i + 1] + chars[i] + chars.slice(i + 2);
        expect(isValidLicenseKey(swapped), `${chars} -> ${swapped}`).to.equal(false);
      }
    };
    for (let n = 0; n < 500; n++) check(generateLicenseKey().replace(/-/g, ''));
    // The last payload character swapped with the check character, for every pair of characters.
    const pairs = new Set<string>();
    for (let n = 0; n < 200_000 && pairs.size < 32 * 31; n++) {
      const chars = generateLicenseKey().replace(/-/g, '');
      const pair = chars.slice(-2);
      if (pair[0] === pair[1] || pairs.has(pair)) continue;
      pairs.add(pair);
      expect(isValidLicenseKey(chars.slice(0, -2) + pair[1] + pair[0]), chars).to.equal(false);
    }
    expect(pairs.size).to.equal(32 * 31);
    // Every pair of alphabet characters, at every position of a valid key (built by substituting
    // the pair into a generated key and keeping only the valid results).
    const base = generateLicenseKey().replace(/-/g, '');
    for (const a of KEY_ALPHABET) {
      for (const b of KEY_ALPHABET) {
        if (a === b) continue;
        for (let i = 0; i + 1 < base.length - 1; i++) {
          const payload = base.slice(0, i) + a + b + base.slice(i + 2, -1);
          const valid = [...KEY_ALPHABET].map((c) => payload + c).find(isValidLicenseKey)!;
          expect(valid, payload).to.be.a('string');
          const swapped = payload.slice(0, i) + b + a + payload.slice(i + 2) + valid.slice(-1);
          expect(isValidLicenseKey(swapped), `${valid} -> ${swapped}`).to.equal(false);
        }
      }
    }
  });

  it('refuse wrong lengths and characters outside the alphabet', () => {
    const key = generateLicenseKey();
    expect(isValidLicenseKey(key.slice(0, -1))).to.equal(false);
    expect(isValidLicenseKey(`${key}2`)).to.equal(false);
    expect(isValidLicenseKey(`0${key.slice(1)}`)).to.equal(false);
    expect(isValidLicenseKey(`O${key.slice(1)}`)).to.equal(false);
    expect(isValidLicenseKey('')).to.equal(false);
  });
});

describe('configuration (loadConfig)', () => {
  const KEY = 'a-secret-key-of-at-least-32-characters!!';
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'lp-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const expectConfigError = (env: Record<string, string>, pattern: RegExp) => {
    let thrown: unknown;
    try {
      loadConfig(env);
    } catch (error) {
      thrown = error;
    }
    expect(thrown, JSON.stringify(env)).to.be.instanceOf(ConfigError);
    expect((thrown as Error).message).to.match(pattern);
    expect((thrown as Error).message).to.not.contain('\n');
  };

  it('refuses to run in production without SECRET_KEY, and writes no key file', () => {
    expectConfigError({ NODE_ENV: 'production', DATA_DIR: dir }, /SECRET_KEY/);
    expectConfigError({ NODE_ENV: 'production', DATA_DIR: dir, SECRET_KEY: '   ' }, /SECRET_KEY/);
    expect(existsSync(join(dir, 'secret.key'))).to.equal(false);
    expectConfigError({ NODE_ENV: 'production', DATA_DIR: dir, SECRET_KEY: 'too-short' }, /SECRET_KEY/);
    expect(loadConfig({ NODE_ENV: 'production', DATA_DIR: dir, SECRET_KEY: KEY }).secretKey).to.equal(KEY);
  });

  it('outside production generates a development key once and keeps it in the data folder', () => {
    const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    const second = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    expect(first.secretKey.length).to.be.at.least(32);
    expect(second.secretKey).to.equal(first.secretKey);
    expect(readFileSync(join(dir, 'secret.key'), 'utf8').trim()).to.equal(first.secretKey);
  });

  it('refuses a DATABASE_URL that is neither sqlite: nor postgres://', () => {
    for (const url of ['mysql://u@h/db', 'sqlite:', 'portal.sqlite', 'http://db.example.test']) {
      expectConfigError({ SECRET_KEY: KEY, DATA_DIR: dir, DATABASE_URL: url }, /DATABASE_URL/);
    }
    expectConfigError({ SECRET_KEY: KEY, DATABASE_URL: 'postgres://u@h/db', DATABASE_SCHEMA: 'Bad-Schema;' }, /DATABASE_SCHEMA/);
  });

  it('refuses a PORT that is not an integer 0..65535', () => {
    for (const port of ['abc', '-1', '65536', '80.5', '4000abc', '0x50', '1e3']) {
      expectConfigError({ SECRET_KEY: KEY, DATA_DIR: dir, PORT: port }, /PORT/);
    }
    expect(loadConfig({ SECRET_KEY: KEY, DATA_DIR: dir, PORT: '8080' }).port).to.equal(8080);
    expect(loadConfig({ SECRET_KEY: KEY, DATA_DIR: dir, PORT: '0' }).port).to.equal(0);
  });

  it('treats empty PORT and SHUTDOWN_TIMEOUT_MS (as in a copied .env) as unset: port 4000, 10 s grace', () => {
    const config = loadConfig({ SECRET_KEY: KEY, DATA_DIR: dir, PORT: '', SHUTDOWN_TIMEOUT_MS: '' });
    expect(config.port).to.equal(4000);
    expect(config.shutdownTimeoutMs).to.equal(10000);
    expect(loadConfig({ SECRET_KEY: KEY, DATA_DIR: dir, PORT: ' ' }).port).to.equal(4000);
  });

  it('refuses a PUBLIC_URL or RESELLER_PORTAL_URL that is not an http(s) URL', () => {
    for (const url of ['portal.example.test', 'ftp://portal.example.test', 'javascript:alert(1)', 'not a url']) {
      expectConfigError({ SECRET_KEY: KEY, DATA_DIR: dir, PUBLIC_URL: url }, /PUBLIC_URL/);
      expectConfigError({ SECRET_KEY: KEY, DATA_DIR: dir, RESELLER_PORTAL_URL: url }, /RESELLER_PORTAL_URL/);
    }
  });

  it('defaults to port 4000 on 127.0.0.1, SQLite in ./data/portal.sqlite and PUBLIC_URL http://localhost:4000', () => {
    const config = loadConfig({ SECRET_KEY: KEY });
    expect(config.port).to.equal(4000);
    expect(config.host).to.equal('127.0.0.1');
    expect(config.database.engine).to.equal('sqlite');
    expect(config.database.engine === 'sqlite' && config.database.path.endsWith(`${sep}data${sep}portal.sqlite`)).to.equal(true);
    expect(config.publicUrl).to.equal('http://localhost:4000');
    expect(config.resellerPortalUrl).to.equal('http://localhost:4000/two-factor-setup');
    expect(config.production).to.equal(false);
    expect(config.trustProxy).to.equal(0);
  });

  it('trusts only as many X-Forwarded-For entries as TRUST_PROXY names proxies', () => {
    const trust = (TRUST_PROXY: string) => loadConfig({ SECRET_KEY: KEY, DATA_DIR: dir, TRUST_PROXY }).trustProxy;
    expect(trust('false')).to.equal(0);
    expect(trust('true')).to.equal(1);
    expect(trust('2')).to.equal(2);
    expect(() => trust('everything')).to.throw(ConfigError, /TRUST_PROXY/);
  });

  it('without PUBLIC_URL, links point where the server listens: PORT and a non-loopback HOST (an empty value is unset)', () => {
    const url = (env: Record<string, string>) => loadConfig({ SECRET_KEY: KEY, DATA_DIR: dir, ...env }).publicUrl;
    expect(url({ PORT: '4321' })).to.equal('http://localhost:4321');
    expect(url({ PORT: '4321', PUBLIC_URL: '' })).to.equal('http://localhost:4321');
    expect(url({ PORT: '8080', HOST: '0.0.0.0' })).to.equal('http://localhost:8080');
    expect(url({ PORT: '8080', HOST: 'portal.internal' })).to.equal('http://portal.internal:8080');
    expect(url({ PORT: '8080', HOST: 'fd00::5' })).to.equal('http://[fd00::5]:8080');
    expect(url({ PORT: '8080', PUBLIC_URL: 'https://portal.example.test' })).to.equal('https://portal.example.test');
    expect(loadConfig({ SECRET_KEY: KEY, DATA_DIR: dir, PORT: '4321' }).resellerPortalUrl).to.equal(
      'http://localhost:4321/two-factor-setup',
    );
  });

  it('drops a trailing slash from PUBLIC_URL so links have exactly one', () => {
    expect(loadConfig({ SECRET_KEY: KEY, DATA_DIR: dir, PUBLIC_URL: 'https://portal.example.test/' }).publicUrl).to.equal(
      'https://portal.example.test',
    );
  });
});
