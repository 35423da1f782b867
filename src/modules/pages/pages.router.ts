// The server-rendered pages behind the links in e-mails and reseller-portal redirects (FLOWS.md
// section 3, steps 5 and 6): new password -> QR code and key -> code from the app -> done. They call
// the same AuthService methods as the GraphQL mutations; the rules, limits and audit live there.
//
//   GET  /reset-password?token=      checks the link, keeps the token in the flow state, 303 to:
//   GET  /reset-password             new password + confirmation           POST -> resetPassword
//   GET  /two-factor-setup?token=    (RESELLER_PORTAL activation) likewise, 303 to:
//   GET  /two-factor-setup           "Start setup"                         POST -> beginTwoFactorSetup
//   GET  /two-factor-setup/confirm   QR code, key, code field              POST -> activateTwoFactor
//   GET  /two-factor-setup/done      how to sign in from now on
//   GET  /two-factor-setup/active    activation link of an account that already has 2FA
//   GET  /reset-password/new-link    link invalid/used/expired: request a new one  POST -> requestPasswordReset
//   GET  /reset-password/sent        "if the address exists, a mail is on its way"
//   GET  /static/portal.css
//
// Plain HTML forms, no JavaScript; every POST answers 303 (POST-redirect-GET) and errors travel to the
// next GET in the sealed flow cookie (flow-state.ts), together with the CSRF token every form echoes.
import type { EntityManager } from '@mikro-orm/core';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { createHash } from 'node:crypto';
import QRCode from 'qrcode';
import { ErrorCode, isAppError } from '../../errors';
import { describeError } from '../../logger';
import type { Services } from '../../services';
import { AccountTokenPurpose } from '../auth/account-token.entity';
import { INVALID_LINK_MESSAGE } from '../auth/account-token.service';
import { LOCK_MS } from '../auth/attempt-limiter';
import type { RequestMeta, TwoFactorSetupResult } from '../auth/auth.service';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../auth/password';
import { FlowStore, parseCookies, serializeCookie, type FlashError, type FlowState } from './flow-state';
import { format, fromAcceptLanguage, isLang, STRINGS, type Lang, type MessageKey } from './i18n';
import { field, PageRenderer, type PageName } from './pages.view';

export const PAGE_FORM_LIMIT = '16kb';

/** The headers of every page (and of the redirects and the stylesheet). */
export const PAGE_SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; img-src 'self' data:; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const PAGE_PATHS = ['/reset-password', '/two-factor-setup', '/static/portal.css'];
const RESET_PURPOSES = [AccountTokenPurpose.INVITATION, AccountTokenPurpose.PASSWORD_RESET];
const LANG_COOKIE = 'lp_lang';
const YEAR_SECONDS = 365 * 24 * 60 * 60;

const URLS = {
  password: '/reset-password',
  start: '/two-factor-setup',
  totp: '/two-factor-setup/confirm',
  done: '/two-factor-setup/done',
  'already-active': '/two-factor-setup/active',
  invalid: '/reset-password/new-link',
  sent: '/reset-password/sent',
} as const satisfies Record<FlowState['step'], string>;

/** Same options as AuthService uses for qrCodeDataUrl, so the image is the one the API returns. */
const QR_OPTIONS = { errorCorrectionLevel: 'M', margin: 2 } as const;
const QR_SIZE = 232;

/**
 * A double-clicked submit sends the same single-use token twice: the second request would find it used
 * and end the flow although the first succeeded. So a success is remembered for a minute per
 * (token, input) and a repeat gets the same result. Failures are never remembered.
 */
class RecentResults {
  private readonly entries = new Map<string, { result: Promise<unknown>; expires: number }>();
  constructor(
    private readonly ttlMs = 60_000,
    private readonly max = 10_000,
  ) {}

  run<T>(parts: string[], work: () => Promise<T>): Promise<T> {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.expires > now && this.entries.size < this.max) break;
      this.entries.delete(key);
    }
    const key = createHash('sha256').update(parts.join('\0')).digest('hex');
    const hit = this.entries.get(key);
    if (hit && hit.expires > now) return hit.result as Promise<T>;
    const result = work();
    this.entries.set(key, { result, expires: now + this.ttlMs });
    result.catch(() => this.entries.delete(key));
    return result;
  }
}

type Outcome = { flash: FlashError } | { invalid: 'link' | 'setup-expired' } | { alreadyActive: true };

/** An AuthService error as page state; anything that is not a client error is rethrown. */
function outcomeOf(error: unknown): Outcome {
  if (!isAppError(error)) throw error;
  const fieldName = typeof error.extensions.field === 'string' ? error.extensions.field : null;
  switch (error.code) {
    case ErrorCode.RATE_LIMITED:
      return { flash: { field: null, key: 'errRateLimited' } };
    case ErrorCode.UNAUTHENTICATED:
      return { flash: { field: 'code', key: 'errCodeWrong' } };
    case ErrorCode.BAD_USER_INPUT:
      if (fieldName === 'token' || fieldName === 'setupToken') {
        if (error.message === INVALID_LINK_MESSAGE) return { invalid: fieldName === 'token' ? 'link' : 'setup-expired' };
        return { alreadyActive: true };
      }
      if (fieldName === 'newPassword') return { flash: { field: 'newPassword', key: passwordMessage(error.message), text: error.message } };
      if (fieldName === 'code') return { flash: { field: 'code', key: 'errCodeFormat' } };
      if (fieldName === 'email') return { flash: { field: 'email', key: 'errEmail' } };
      return { flash: { field: null, key: null, text: error.message } };
    default:
      throw error;
  }
}

/** The translated form of a password rule message from password.ts (the English text is the fallback). */
function passwordMessage(message: string): MessageKey | null {
  if (/at least \d+ characters/.test(message)) return 'errPasswordTooShort';
  if (/at most \d+ characters/.test(message)) return 'errPasswordTooLong';
  if (/e-mail address/.test(message)) return 'errPasswordIsEmail';
  if (/different characters/.test(message)) return 'errPasswordTooSimple';
  return null;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function groupsOfFour(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

export function createPagesRouter(services: Services): Router {
  const { config, auth, accountTokens, orm, log } = services;
  const flows = new FlowStore(config.secretKey);
  const view = new PageRenderer(config);
  const recent = new RecentResults();
  const router = express.Router();

  const meta = (req: Request): RequestMeta => ({ clientAddress: req.ip ?? req.socket.remoteAddress ?? null });
  const em = (): EntityManager => orm.em.fork();

  /** ?lang= (GET, then kept in a cookie) > the cookie > Accept-Language > English. */
  function languageOf(req: Request, res: Response): Lang {
    if (isLang(res.locals.lang)) return res.locals.lang;
    const asked = req.query.lang;
    let lang: Lang;
    if (req.method === 'GET' && isLang(asked)) {
      res.append('Set-Cookie', serializeCookie(LANG_COOKIE, asked, { maxAgeSeconds: YEAR_SECONDS, secure: req.secure }));
      lang = asked;
    } else {
      const stored = parseCookies(req.headers.cookie).get(LANG_COOKIE);
      lang = isLang(stored) ? stored : (fromAcceptLanguage(req.headers['accept-language']) ?? 'en');
    }
    res.locals.lang = lang;
    return lang;
  }

  function messageText(lang: Lang, flash: FlashError): string {
    const template = flash.key ? STRINGS[lang][flash.key] : (flash.text ?? '');
    return format(template, { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH, minutes: Math.round(LOCK_MS / 60_000) });
  }

  function render(req: Request, res: Response, status: number, page: PageName, title: string, data: Record<string, unknown> & { stepText?: string | null }) {
    const lang = languageOf(req, res);
    const otherLang: Lang = lang === 'en' ? 'de' : 'en';
    const html = view.render(page, {
      lang,
      t: STRINGS[lang],
      brand: config.brandName,
      cssHref: view.cssHref,
      otherLang,
      otherLangName: STRINGS[otherLang].languageName,
      title,
      error: null,
      ...data,
      stepText: data.stepText ?? null,
    });
    res.status(status).set('Content-Language', lang).type('html').send(html);
  }

  /** Page chrome in the request's language: the strings and the error of the flow's flash, if any. */
  function pageContext(req: Request, res: Response, flow: FlowState | null) {
    const lang = languageOf(req, res);
    const t = STRINGS[lang];
    const flash = flow?.flash ?? null;
    const errorText = flash ? messageText(lang, flash) : null;
    const errorFor = (id: string) => (flash && flash.field === id ? errorText : null);
    const error = flash ? { field: flash.field, text: errorText } : null;
    const stepText = (n: number) => format(t.stepOf, { n, total: 3 });
    if (flow?.flash) {
      // Shown once: a reload shows the clean form.
      flows.write(req, res, { ...flow, flash: undefined });
    }
    return { lang, t, error, errorFor, stepText };
  }

  /** 303 See Other to one of our own paths (never with a token in it). */
  const redirect = (res: Response, url: string): void => {
    res.status(303).location(url).end();
  };

  function forbidden(req: Request, res: Response) {
    const t = STRINGS[languageOf(req, res)];
    render(req, res, 403, 'message', t.csrfTitle, { paragraphs: [t.csrfText], linkHref: URLS.invalid, linkLabel: t.startAgain });
  }

  /** The flow of a POST whose CSRF token matches, or null after answering 403 (nothing is changed). */
  function postedFlow(req: Request, res: Response): FlowState | null {
    const flow = flows.read(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (!FlowStore.csrfMatches(flow, body.csrf)) {
      forbidden(req, res);
      return null;
    }
    return flow;
  }

  /** Moves the flow to the state an outcome calls for and redirects there. */
  function fail(req: Request, res: Response, flow: FlowState, outcome: Outcome, formUrl: string) {
    if ('flash' in outcome) {
      flows.write(req, res, { ...flow, flash: outcome.flash });
      return redirect(res, formUrl);
    }
    const next: FlowState =
      'invalid' in outcome
        ? { csrf: flow.csrf, exp: 0, kind: flow.kind, step: 'invalid', reason: outcome.invalid }
        : { csrf: flow.csrf, exp: 0, kind: flow.kind, step: 'already-active', account: flow.account };
    flows.write(req, res, next);
    return redirect(res, URLS[next.step]);
  }

  function setupState(flow: FlowState, result: TwoFactorSetupResult, passwordChanged: boolean): FlowState {
    return {
      csrf: flow.csrf,
      exp: 0,
      kind: flow.kind,
      step: 'totp',
      account: flow.account,
      setupToken: result.setupToken,
      secret: result.secret,
      otpauthUrl: result.otpauthUrl,
      alreadyEnrolled: result.alreadyEnrolled,
      passwordChanged,
    };
  }

  /** The first GET of a link: check the token (read-only), keep it in the flow state, 303 to the clean URL. */
  async function absorbToken(req: Request, res: Response, kind: 'reset' | 'activation') {
    languageOf(req, res); // a ?lang= in the link is kept too
    const token = text(req.query.token);
    let flow: FlowState;
    try {
      const row = await accountTokens.find(em(), token, kind === 'reset' ? RESET_PURPOSES : [AccountTokenPurpose.TWO_FACTOR_ACTIVATION], 'token');
      const user = row.user.getEntity();
      if (kind === 'reset') flow = flows.create('reset', 'password', { accountToken: token, account: user.email });
      else if (user.twoFactorEnabled) flow = flows.create('activation', 'already-active', { account: user.email });
      else flow = flows.create('activation', 'start', { accountToken: token, account: user.email });
    } catch (error) {
      if (!isAppError(error)) throw error;
      flow = flows.create(kind, 'invalid', { reason: 'link' });
    }
    flows.write(req, res, flow);
    redirect(res, URLS[flow.step]);
  }

  /** The flow when it is at `step`; otherwise redirects to where the flow is (or to the new-link page). */
  function flowAt(req: Request, res: Response, step: FlowState['step']): FlowState | null {
    const flow = flows.read(req);
    if (flow?.step === step) return flow;
    redirect(res, flow ? URLS[flow.step] : URLS.invalid);
    return null;
  }

  router.use(PAGE_PATHS, (_req: Request, res: Response, next: NextFunction) => {
    res.set(PAGE_SECURITY_HEADERS).set('Vary', 'Accept-Language, Cookie');
    next();
  });
  router.use(PAGE_PATHS, express.urlencoded({ limit: PAGE_FORM_LIMIT, extended: false }));

  router.get('/static/portal.css', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=86400').type('text/css; charset=utf-8').send(view.css);
  });

  // Step 1 (reset and invitation links): the new password.
  router.get('/reset-password', async (req, res) => {
    if (req.query.token !== undefined) return absorbToken(req, res, 'reset');
    const flow = flowAt(req, res, 'password');
    if (!flow) return;
    const { t, error, errorFor, stepText } = pageContext(req, res, flow);
    const rules = format(t.passwordRules, { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH });
    const fields = {
      newPassword: field({ id: 'newPassword', type: 'password', label: t.newPasswordLabel, autocomplete: 'new-password', hint: rules }, errorFor('newPassword'), t.errorPrefix),
      confirmPassword: field({ id: 'confirmPassword', type: 'password', label: t.confirmPasswordLabel, autocomplete: 'new-password' }, errorFor('confirmPassword'), t.errorPrefix),
    };
    if (fields.confirmPassword.invalid) fields.confirmPassword.autofocus = true;
    else if (fields.newPassword.invalid) fields.newPassword.autofocus = true;
    render(req, res, 200, 'password', t.passwordTitle, { stepText: stepText(1), error, csrf: flow.csrf, account: flow.account ?? '', fields });
  });

  router.post('/reset-password', async (req, res) => {
    const flow = postedFlow(req, res);
    if (!flow) return;
    if (flow.step !== 'password' || !flow.accountToken) return redirect(res, URLS[flow.step]);
    const body = req.body as Record<string, unknown>;
    const newPassword = text(body.newPassword);
    if (newPassword !== text(body.confirmPassword)) {
      flows.write(req, res, { ...flow, flash: { field: 'confirmPassword', key: 'errMismatch' } });
      return redirect(res, URLS.password);
    }
    const token = flow.accountToken;
    let result: TwoFactorSetupResult;
    try {
      result = await recent.run(['reset', token, newPassword], () => auth.resetPassword(em(), token, newPassword, meta(req)));
    } catch (error) {
      return fail(req, res, flow, outcomeOf(error), URLS.password);
    }
    flows.write(req, res, setupState(flow, result, true));
    redirect(res, URLS.totp);
  });

  // Step 1 (reseller-portal activation links): no password, just start.
  router.get('/two-factor-setup', async (req, res) => {
    if (req.query.token !== undefined) return absorbToken(req, res, 'activation');
    const flow = flowAt(req, res, 'start');
    if (!flow) return;
    const { t, error, stepText } = pageContext(req, res, flow);
    render(req, res, 200, 'start', t.startTitle, { stepText: stepText(1), error, csrf: flow.csrf, account: flow.account ?? '' });
  });

  router.post('/two-factor-setup', async (req, res) => {
    const flow = postedFlow(req, res);
    if (!flow) return;
    if (flow.step !== 'start' || !flow.accountToken) return redirect(res, URLS[flow.step]);
    const token = flow.accountToken;
    let result: TwoFactorSetupResult;
    try {
      result = await recent.run(['activation', token], () => auth.beginTwoFactorSetup(em(), token));
    } catch (error) {
      return fail(req, res, flow, outcomeOf(error), URLS.start);
    }
    flows.write(req, res, setupState(flow, result, false));
    redirect(res, URLS.totp);
  });

  // Step 2: the QR code, the key for manual entry and the code field.
  router.get('/two-factor-setup/confirm', async (req, res) => {
    const flow = flowAt(req, res, 'totp');
    if (!flow) return;
    const { t, error, errorFor, stepText } = pageContext(req, res, flow);
    const account = flow.account ?? '';
    const code = field(
      { id: 'code', type: 'text', label: t.codeLabel, autocomplete: 'one-time-code', hint: t.codeHint, inputmode: 'numeric', spellcheckOff: true, maxlength: 7 },
      errorFor('code'),
      t.errorPrefix,
    );
    code.autofocus = code.invalid;
    render(req, res, 200, 'confirm', flow.alreadyEnrolled ? t.confirmTitle : t.setupTitle, {
      stepText: stepText(2),
      error,
      csrf: flow.csrf,
      alreadyEnrolled: flow.alreadyEnrolled === true,
      qrCodeDataUrl: await QRCode.toDataURL(flow.otpauthUrl ?? '', QR_OPTIONS),
      qrSize: QR_SIZE,
      qrAlt: format(t.qrAlt, { issuer: config.totpIssuer, account }),
      otpauthUrl: flow.otpauthUrl ?? '',
      issuer: config.totpIssuer,
      account,
      secretGroups: groupsOfFour(flow.secret ?? ''),
      submitLabel: flow.alreadyEnrolled ? t.confirmSubmit : t.codeSubmit,
      fields: { code },
    });
  });

  router.post('/two-factor-setup/confirm', async (req, res) => {
    const flow = postedFlow(req, res);
    if (!flow) return;
    if (flow.step !== 'totp' || !flow.setupToken) return redirect(res, URLS[flow.step]);
    // People type "123 456" as the app shows it: spaces are not part of the code.
    const code = text((req.body as Record<string, unknown>).code).replace(/\s+/g, '');
    const setupToken = flow.setupToken;
    try {
      await recent.run(['confirm', setupToken, code], () => auth.activateTwoFactor(em(), setupToken, code, meta(req)));
    } catch (error) {
      return fail(req, res, flow, outcomeOf(error), URLS.totp);
    }
    flows.write(req, res, {
      csrf: flow.csrf,
      exp: 0,
      kind: flow.kind,
      step: 'done',
      account: flow.account,
      alreadyEnrolled: flow.alreadyEnrolled,
      passwordChanged: flow.passwordChanged,
    });
    redirect(res, URLS.done);
  });

  // Step 3: done.
  router.get('/two-factor-setup/done', (req, res) => {
    const flow = flowAt(req, res, 'done');
    if (!flow) return;
    const { t, stepText } = pageContext(req, res, flow);
    const values = { brand: config.brandName, account: flow.account ?? '' };
    render(req, res, 200, 'done', flow.alreadyEnrolled ? t.doneConfirmedTitle : t.doneTitle, {
      stepText: stepText(3),
      signInText: format(flow.passwordChanged ? t.doneSignInNewPassword : t.doneSignIn, values),
      sessionsEnded: flow.passwordChanged === true,
      continueHref: config.publicUrl,
      continueLabel: format(t.doneContinue, values),
    });
  });

  router.get('/two-factor-setup/active', (req, res) => {
    const flow = flowAt(req, res, 'already-active');
    if (!flow) return;
    const { t } = pageContext(req, res, flow);
    render(req, res, 200, 'message', t.alreadyActiveTitle, {
      paragraphs: [t.alreadyActiveText],
      linkHref: config.publicUrl,
      linkLabel: format(t.doneContinue, { brand: config.brandName }),
    });
  });

  // A link that can no longer be used, or no flow at all: request a new link.
  router.get('/reset-password/new-link', (req, res) => {
    let flow = flows.read(req);
    if (!flow) {
      flow = flows.create('request', 'invalid');
      flows.write(req, res, flow);
    }
    const { t, error, errorFor } = pageContext(req, res, flow);
    const invalid = flow.step === 'invalid' && flow.reason !== undefined;
    const paragraphs = !invalid
      ? []
      : flow.reason === 'setup-expired'
        ? [t.setupExpiredText]
        : flow.kind === 'activation'
          ? [t.invalidText, t.activationInvalidText]
          : [t.invalidText];
    const email = field({ id: 'email', type: 'email', label: t.emailLabel, autocomplete: 'email', spellcheckOff: true }, errorFor('email'), t.errorPrefix);
    email.autofocus = email.invalid;
    render(req, res, 200, 'request', invalid ? t.invalidTitle : t.forgotTitle, {
      error,
      paragraphs,
      requestHeading: invalid ? t.requestTitle : null,
      csrf: flow.csrf,
      fields: { email },
    });
  });

  router.post('/reset-password/new-link', (req, res) => {
    const flow = postedFlow(req, res);
    if (!flow) return;
    try {
      // Answers alike whether or not the address has an account; the mail goes out in the background.
      auth.requestPasswordReset(em(), text((req.body as Record<string, unknown>).email), meta(req));
    } catch (error) {
      return fail(req, res, flow, outcomeOf(error), URLS.invalid);
    }
    flows.write(req, res, flows.create('request', 'sent'));
    redirect(res, URLS.sent);
  });

  router.get('/reset-password/sent', (req, res) => {
    const { t } = pageContext(req, res, null);
    render(req, res, 200, 'sent', t.sentTitle, {});
  });

  // Errors on these paths get a page, not the API's JSON; internals are logged by name only.
  router.use(PAGE_PATHS, (error: { status?: number; type?: string }, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const t = STRINGS[languageOf(req, res)];
    if (error.type === 'entity.too.large') {
      return render(req, res, 413, 'message', t.errorTitle, { paragraphs: [t.tooLargeText], linkHref: null, linkLabel: null });
    }
    if (error.status && error.status >= 400 && error.status < 500) {
      return render(req, res, 400, 'message', t.errorTitle, { paragraphs: [t.errorText], linkHref: null, linkLabel: null });
    }
    log.error('page request failed', describeError(error));
    return render(req, res, 500, 'message', t.errorTitle, { paragraphs: [t.errorText], linkHref: null, linkLabel: null });
  });

  return router;
}
