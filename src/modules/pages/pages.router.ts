// The server-rendered pages behind the links in e-mails and reseller-portal redirects (FLOWS.md
// section 3, steps 5 and 6): new password -> QR code and key -> code from the app -> done. They call
// the same service methods as the GraphQL mutations; the rules, limits and audit live there.
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
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { describeError } from '../../logger';
import type { Services } from '../../services';
import { STRINGS } from './i18n';
import { createPageKit, PAGE_FORM_LIMIT, PAGE_PATHS, PAGE_SECURITY_HEADERS } from './page-kit';
import { addResetRoutes } from './reset.routes';
import { addSetupRoutes } from './setup.routes';

export function createPagesRouter(services: Services): Router {
  const { log } = services;
  const kit = createPageKit(services);
  const { view, languageOf, render } = kit;
  const router = express.Router();

  router.use(PAGE_PATHS, (_req: Request, res: Response, next: NextFunction) => {
    res.set(PAGE_SECURITY_HEADERS).set('Vary', 'Accept-Language, Cookie');
    next();
  });
  router.use(PAGE_PATHS, express.urlencoded({ limit: PAGE_FORM_LIMIT, extended: false }));

  router.get('/static/portal.css', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=86400').type('text/css; charset=utf-8').send(view.css);
  });

  addResetRoutes(router, kit);
  addSetupRoutes(router, kit);

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
