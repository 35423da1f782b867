// The two-factor setup pages: start (reseller-portal activation links), the QR code and key with the
// code field, done, and "already active". See pages.router.ts for the flow.
import type { Router } from 'express';
import type { TwoFactorSetupResult } from '../auth/enrolment.service';
import { qrCodeDataUrl } from '../auth/totp';
import { format } from './i18n';
import { outcomeOf, text, URLS, type PageKit } from './page-kit';
import { field } from './pages.view';

const QR_SIZE = 232;

function groupsOfFour(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

export function addSetupRoutes(router: Router, kit: PageKit): void {
  const { config, enrolment, flows, recent, meta, em, render, pageContext, redirect, postedFlow, fail, setupState, absorbToken, flowAt } =
    kit;

  // Step 1 (reseller-portal activation links): no password, just start. This page stands in for the
  // reseller portal outside production only; in production the portal redeems its links itself.
  router.get('/two-factor-setup', async (req, res, next) => {
    if (config.production) return next();
    if (req.query.token !== undefined) return absorbToken(req, res, 'activation');
    const flow = flowAt(req, res, 'start');
    if (!flow) return;
    const { t, error, stepText } = pageContext(req, res, flow);
    render(req, res, 200, 'start', t.startTitle, { stepText: stepText(1), error, csrf: flow.csrf, account: flow.account ?? '' });
  });

  router.post('/two-factor-setup', async (req, res, next) => {
    if (config.production) return next();
    const flow = postedFlow(req, res);
    if (!flow) return;
    if (flow.step !== 'start' || !flow.accountToken) return redirect(res, URLS[flow.step]);
    const token = flow.accountToken;
    let result: TwoFactorSetupResult;
    try {
      result = await recent.run(['activation', token], () => enrolment.beginTwoFactorSetup(em(), token, 'built-in-page'));
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
      {
        id: 'code',
        type: 'text',
        label: t.codeLabel,
        autocomplete: 'one-time-code',
        hint: t.codeHint,
        inputmode: 'numeric',
        spellcheckOff: true,
        maxlength: 7,
      },
      errorFor('code'),
      t.errorPrefix,
    );
    code.autofocus = code.invalid;
    render(req, res, 200, 'confirm', flow.alreadyEnrolled ? t.confirmTitle : t.setupTitle, {
      stepText: stepText(2),
      error,
      csrf: flow.csrf,
      alreadyEnrolled: flow.alreadyEnrolled === true,
      replacesEnrolled: flow.replacesEnrolled === true,
      qrCodeDataUrl: await qrCodeDataUrl(flow.otpauthUrl ?? ''),
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
    const locale = kit.accountLanguageOf(req, res);
    try {
      await recent.run(['confirm', setupToken, code], () => enrolment.activateTwoFactor(em(), setupToken, code, meta(req), locale));
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
}
