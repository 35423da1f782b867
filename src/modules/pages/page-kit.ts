// The pieces every page handler shares (reset.routes.ts, setup.routes.ts): the language, rendering
// with the flow's one-time error, CSRF-checked POSTs, POST-redirect-GET, and the auth services' errors as
// page state. See pages.router.ts for the routes and the flow.
import type { EntityManager } from '@mikro-orm/core';
import type { Request, Response } from 'express';
import { createHash } from 'node:crypto';
import { clientAddressOf } from '../../context';
import { ErrorCode, isAppError } from '../../errors';
import type { Services } from '../../services';
import { AccountTokenPurpose } from '../auth/account-token.entity';
import { LOCK_MS } from '../auth/attempt-limiter';
import type { TwoFactorSetupResult } from '../auth/enrolment.service';
import type { RequestMeta } from '../auth/totp-check';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../auth/password';
import { FlowStore, parseCookies, secureCookies, serializeCookie, type FlashError, type FlowState } from './flow-state';
import { format, fromAcceptLanguage, isLang, STRINGS, type Lang, type MessageKey } from './i18n';
import { PageRenderer, type PageName } from './pages.view';

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

export const PAGE_PATHS = ['/reset-password', '/two-factor-setup', '/static/portal.css'];
const RESET_PURPOSES = [AccountTokenPurpose.INVITATION, AccountTokenPurpose.PASSWORD_RESET];
const LANG_COOKIE = 'lp_lang';
const YEAR_SECONDS = 365 * 24 * 60 * 60;

export const URLS = {
  password: '/reset-password',
  start: '/two-factor-setup',
  totp: '/two-factor-setup/confirm',
  done: '/two-factor-setup/done',
  'already-active': '/two-factor-setup/active',
  invalid: '/reset-password/new-link',
  sent: '/reset-password/sent',
} as const satisfies Record<FlowState['step'], string>;

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

export type Outcome = { flash: FlashError } | { invalid: 'link' | 'setup-expired' } | { alreadyActive: true };

/** An error of the auth services as page state; anything that is not a client error is rethrown. */
export function outcomeOf(error: unknown): Outcome {
  if (!isAppError(error)) throw error;
  const fieldName = typeof error.extensions.field === 'string' ? error.extensions.field : null;
  const reason = typeof error.extensions.reason === 'string' ? error.extensions.reason : null;
  switch (error.code) {
    case ErrorCode.RATE_LIMITED:
      return { flash: { field: null, key: 'errRateLimited' } };
    case ErrorCode.UNAUTHENTICATED:
      return { flash: { field: 'code', key: 'errCodeWrong' } };
    case ErrorCode.BAD_USER_INPUT:
      if (reason === 'INVALID_LINK') return { invalid: fieldName === 'setupToken' ? 'setup-expired' : 'link' };
      if (reason === 'ALREADY_ACTIVE') return { alreadyActive: true };
      if (fieldName === 'newPassword')
        return { flash: { field: 'newPassword', key: (reason && PASSWORD_MESSAGES[reason]) || null, text: error.message } };
      if (fieldName === 'code') return { flash: { field: 'code', key: 'errCodeFormat' } };
      if (fieldName === 'email') return { flash: { field: 'email', key: 'errEmail' } };
      return { flash: { field: null, key: null, text: error.message } };
    default:
      throw error;
  }
}

/** The translated message of each password rule of password.ts, by its reason (the English text is the fallback). */
const PASSWORD_MESSAGES: Record<string, MessageKey> = {
  PASSWORD_TOO_SHORT: 'errPasswordTooShort',
  PASSWORD_TOO_LONG: 'errPasswordTooLong',
  PASSWORD_IS_EMAIL: 'errPasswordIsEmail',
  PASSWORD_TOO_SIMPLE: 'errPasswordTooSimple',
};

export function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The shared helpers of the page handlers, bound to the services. */
export function createPageKit(services: Services) {
  const { config, enrolment, passwordReset, accountTokens, orm } = services;
  const flows = new FlowStore(config.secretKey, config.publicUrl);
  const view = new PageRenderer(config);
  const recent = new RecentResults();

  const meta = (req: Request): RequestMeta => ({ clientAddress: clientAddressOf(req) });
  const em = (): EntityManager => orm.em.fork();

  /**
   * ?lang= (GET, then kept in a cookie) > the cookie > Accept-Language > English. `chosen`: the language
   * came from the switch or the browser, not from the English fallback.
   */
  function pageLanguage(req: Request, res: Response): { lang: Lang; chosen: boolean } {
    if (isLang(res.locals.lang)) return { lang: res.locals.lang, chosen: res.locals.langChosen === true };
    const asked = req.query.lang;
    let lang: Lang | null;
    if (req.method === 'GET' && isLang(asked)) {
      res.append(
        'Set-Cookie',
        serializeCookie(LANG_COOKIE, asked, { maxAgeSeconds: YEAR_SECONDS, secure: secureCookies(config.publicUrl, req) }),
      );
      lang = asked;
    } else {
      const stored = parseCookies(req.headers.cookie).get(LANG_COOKIE);
      lang = isLang(stored) ? stored : fromAcceptLanguage(req.headers['accept-language']);
    }
    res.locals.lang = lang ?? 'en';
    res.locals.langChosen = lang !== null;
    return { lang: lang ?? 'en', chosen: lang !== null };
  }

  function languageOf(req: Request, res: Response): Lang {
    return pageLanguage(req, res).lang;
  }

  /**
   * The language to keep as the account's locale when a flow completes on these pages (the password
   * set, 2FA activated), so that the account's later e-mails come in the language it used here: the
   * page's language when the switch or the browser chose it; null (keep the locale) for the fallback.
   */
  function accountLanguageOf(req: Request, res: Response): Lang | null {
    const { lang, chosen } = pageLanguage(req, res);
    return chosen ? lang : null;
  }

  function messageText(lang: Lang, flash: FlashError): string {
    const template = flash.key ? STRINGS[lang][flash.key] : (flash.text ?? '');
    return format(template, { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH, minutes: Math.round(LOCK_MS / 60_000) });
  }

  function render(
    req: Request,
    res: Response,
    status: number,
    page: PageName,
    title: string,
    data: Record<string, unknown> & { stepText?: string | null },
  ) {
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
      replacesEnrolled: result.replacesEnrolled,
      passwordChanged,
    };
  }

  /** The first GET of a link: check the token (read-only), keep it in the flow state, 303 to the clean URL. */
  async function absorbToken(req: Request, res: Response, kind: 'reset' | 'activation') {
    languageOf(req, res); // a ?lang= in the link is kept too
    const token = text(req.query.token);
    let flow: FlowState;
    try {
      const row = await accountTokens.find(
        em(),
        token,
        kind === 'reset' ? RESET_PURPOSES : [AccountTokenPurpose.TWO_FACTOR_ACTIVATION],
        'token',
      );
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

  return {
    config,
    enrolment,
    passwordReset,
    flows,
    view,
    recent,
    meta,
    em,
    languageOf,
    accountLanguageOf,
    render,
    pageContext,
    redirect,
    postedFlow,
    fail,
    setupState,
    absorbToken,
    flowAt,
  };
}

export type PageKit = ReturnType<typeof createPageKit>;
