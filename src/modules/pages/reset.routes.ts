// The password pages: the new password of a reset or invitation link, and requesting a new link
// when one can no longer be used. See pages.router.ts for the flow.
import type { Router } from 'express';
import type { TwoFactorSetupResult } from '../auth/enrolment.service';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../auth/password';
import { format } from './i18n';
import { outcomeOf, text, URLS, type PageKit } from './page-kit';
import { field } from './pages.view';

export function addResetRoutes(router: Router, kit: PageKit): void {
  const { passwordReset, flows, recent, meta, em, render, pageContext, redirect, postedFlow, fail, setupState, absorbToken, flowAt } = kit;

  // Step 1 (reset and invitation links): the new password.
  router.get('/reset-password', async (req, res) => {
    if (req.query.token !== undefined) return absorbToken(req, res, 'reset');
    const flow = flowAt(req, res, 'password');
    if (!flow) return;
    const { t, error, errorFor, stepText } = pageContext(req, res, flow);
    const rules = format(t.passwordRules, { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH });
    const fields = {
      newPassword: field(
        { id: 'newPassword', type: 'password', label: t.newPasswordLabel, autocomplete: 'new-password', hint: rules },
        errorFor('newPassword'),
        t.errorPrefix,
      ),
      confirmPassword: field(
        { id: 'confirmPassword', type: 'password', label: t.confirmPasswordLabel, autocomplete: 'new-password' },
        errorFor('confirmPassword'),
        t.errorPrefix,
      ),
    };
    if (fields.confirmPassword.invalid) fields.confirmPassword.autofocus = true;
    else if (fields.newPassword.invalid) fields.newPassword.autofocus = true;
    render(req, res, 200, 'password', t.passwordTitle, {
      stepText: stepText(1),
      error,
      csrf: flow.csrf,
      account: flow.account ?? '',
      fields,
    });
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
    // The account keeps the language of these pages as its locale: its e-mails follow it from now on.
    const locale = kit.accountLanguageOf(req, res);
    let result: TwoFactorSetupResult;
    try {
      result = await recent.run(['reset', token, newPassword], () =>
        passwordReset.resetPassword(em(), token, newPassword, meta(req), locale),
      );
    } catch (error) {
      return fail(req, res, flow, outcomeOf(error), URLS.password);
    }
    flows.write(req, res, setupState(flow, result, true));
    redirect(res, URLS.totp);
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
    const email = field(
      { id: 'email', type: 'email', label: t.emailLabel, autocomplete: 'email', spellcheckOff: true },
      errorFor('email'),
      t.errorPrefix,
    );
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
      passwordReset.requestPasswordReset(em(), text((req.body as Record<string, unknown>).email), meta(req));
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
}
