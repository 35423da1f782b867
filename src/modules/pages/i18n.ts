// The words of the server-rendered pages, in English and German. The language comes from ?lang=
// (kept in a cookie), else from Accept-Language, else English. Placeholders are {name}; every value
// is HTML-escaped by the templates.

import { isLocale, LOCALES, type Locale } from '../../common/locale';

export const LANGUAGES = LOCALES;
export type Lang = Locale;

const en = {
  languageName: 'English',
  languageNav: 'Language',
  stepOf: 'Step {n} of {total}',
  skipToContent: 'Skip to content',
  errorSummary: 'There is a problem',
  errorPrefix: 'Error:',
  footer: 'Questions about your account? Contact your administrator.',
  accountLabel: 'Account',

  passwordTitle: 'Choose a new password',
  passwordIntro: 'Choose the password for your account. After this you set up two-factor authentication with an authenticator app.',
  newPasswordLabel: 'New password',
  confirmPasswordLabel: 'Repeat the new password',
  passwordRules:
    'Use {min} to {max} characters with at least 4 different characters. It must not be your e-mail address. A sentence of several words is long and easy to remember.',
  passwordSubmit: 'Save password and continue',

  startTitle: 'Set up two-factor authentication',
  startIntro:
    'Before you can sign in, your account needs two-factor authentication: besides your password you enter a 6-digit code from an authenticator app on your phone.',
  startApps: 'Have an authenticator app ready, for example FreeOTP, Google Authenticator or Microsoft Authenticator.',
  startSubmit: 'Start setup',

  setupTitle: 'Set up your authenticator app',
  confirmTitle: 'Confirm your authenticator app',
  alreadyEnrolled:
    'Two-factor authentication is already set up for this account. This is your existing key: if your app has it, just enter its current code. Otherwise add it to your app again now.',
  replacingEnrolled:
    'This is a new key for your account. Add it to your authenticator app and confirm it with a code: your current authenticator keeps working until you do.',
  scanStep: 'Scan this QR code with your authenticator app.',
  qrAlt: 'QR code for {issuer}, account {account}',
  openInApp: 'On this phone? Open the key in your authenticator app',
  manualTitle: 'Cannot scan the code? Enter these details in your app:',
  issuerLabel: 'Issuer',
  secretLabel: 'Key',
  typeLabel: 'Type',
  typeValue: 'Time-based (TOTP), 6 digits, every 30 seconds',
  secretWarning: 'Keep this key to yourself: anyone who has it can create codes for your account.',
  codeLabel: '6-digit code from the app',
  codeHint: 'The app shows a new code every 30 seconds.',
  codeSubmit: 'Activate two-factor authentication',
  confirmSubmit: 'Confirm',

  doneTitle: 'Two-factor authentication is active',
  doneConfirmedTitle: 'Your authenticator app is confirmed',
  doneSignInNewPassword:
    'From now on, sign in to {brand} with your e-mail address {account}, your new password and the 6-digit code your authenticator app shows.',
  doneSignIn:
    'From now on, sign in to {brand} with your e-mail address {account}, your password and the 6-digit code your authenticator app shows.',
  doneSessionsEnded: 'For your security, other sign-ins of this account have been ended.',
  doneKeepApp: 'Keep the authenticator app on your phone. If you lose it, ask your administrator to reset two-factor authentication.',
  doneRecoveryCodes:
    'After signing in, generate recovery codes and keep them somewhere safe, apart from your phone: each one signs you in once if you lose your phone.',
  doneContinue: 'Go to {brand}',

  invalidTitle: 'This link can no longer be used',
  invalidText: 'The link is invalid, has already been used or has expired. A link works once and for 24 hours.',
  setupExpiredText: 'The setup was not finished in time. Request a new link and start again.',
  activationInvalidText:
    'To set up two-factor authentication, go back to the reseller portal and choose "Enable 2FA" again, or request a new link by e-mail below.',
  alreadyActiveTitle: 'Two-factor authentication is already active',
  alreadyActiveText: 'Sign in with your password and the code from your authenticator app.',
  requestTitle: 'Request a new link',
  forgotTitle: 'Reset your password',
  requestIntro:
    'Enter the e-mail address of your account. We send you a link to choose a new password and set up two-factor authentication.',
  emailLabel: 'E-mail address',
  requestSubmit: 'Send link',

  sentTitle: 'Check your e-mail',
  sentText:
    'If an account exists for this address, an e-mail with a link is on its way. The link works for 24 hours. If nothing arrives within a few minutes, check your spam folder.',

  csrfTitle: 'This form has expired',
  csrfText:
    'The form could not be accepted: it is too old, was replaced by another window, or cookies are blocked for this site. Nothing was changed. Open the link from your e-mail again.',
  errorTitle: 'Something went wrong',
  errorText: 'Nothing was changed. Please try again in a few minutes.',
  tooLargeText: 'The form was too large to be accepted. Nothing was changed.',
  startAgain: 'Request a new link',

  errMismatch: 'The two passwords do not match. Enter the same password twice.',
  errPasswordTooShort: 'The password must have at least {min} characters.',
  errPasswordTooLong: 'The password must have at most {max} characters.',
  errPasswordIsEmail: 'The password must not be your e-mail address.',
  errPasswordTooSimple: 'The password is too simple: use at least 4 different characters.',
  errCodeFormat: 'Enter the 6-digit code from your authenticator app, digits only.',
  errCodeWrong: 'This code is wrong or has expired. Enter the code your app shows now.',
  errRateLimited: 'Too many failed attempts. Wait {minutes} minutes, then try again.',
  errEmail: 'Enter a valid e-mail address, like name@example.com.',
};

export type Strings = typeof en;
export type MessageKey = keyof Strings;

const de: Strings = {
  languageName: 'Deutsch',
  languageNav: 'Sprache',
  stepOf: 'Schritt {n} von {total}',
  skipToContent: 'Zum Inhalt springen',
  errorSummary: 'Bitte prüfen Sie Ihre Eingabe',
  errorPrefix: 'Fehler:',
  footer: 'Fragen zu Ihrem Konto? Wenden Sie sich an Ihre Administration.',
  accountLabel: 'Konto',

  passwordTitle: 'Neues Passwort festlegen',
  passwordIntro:
    'Legen Sie das Passwort für Ihr Konto fest. Danach richten Sie die Zwei-Faktor-Authentifizierung mit einer Authenticator-App ein.',
  newPasswordLabel: 'Neues Passwort',
  confirmPasswordLabel: 'Neues Passwort wiederholen',
  passwordRules:
    'Verwenden Sie {min} bis {max} Zeichen mit mindestens 4 verschiedenen Zeichen. Es darf nicht Ihre E-Mail-Adresse sein. Ein Satz aus mehreren Wörtern ist lang und leicht zu merken.',
  passwordSubmit: 'Passwort speichern und weiter',

  startTitle: 'Zwei-Faktor-Authentifizierung einrichten',
  startIntro:
    'Bevor Sie sich anmelden können, braucht Ihr Konto die Zwei-Faktor-Authentifizierung: Zusätzlich zum Passwort geben Sie einen 6-stelligen Code aus einer Authenticator-App auf Ihrem Telefon ein.',
  startApps: 'Halten Sie eine Authenticator-App bereit, zum Beispiel FreeOTP, Google Authenticator oder Microsoft Authenticator.',
  startSubmit: 'Einrichtung starten',

  setupTitle: 'Authenticator-App einrichten',
  confirmTitle: 'Authenticator-App bestätigen',
  alreadyEnrolled:
    'Für dieses Konto ist die Zwei-Faktor-Authentifizierung bereits eingerichtet. Das ist Ihr bisheriger Schlüssel: Wenn Ihre App ihn hat, geben Sie einfach den aktuellen Code ein. Andernfalls fügen Sie ihn jetzt erneut in Ihrer App hinzu.',
  replacingEnrolled:
    'Das ist ein neuer Schlüssel für Ihr Konto. Fügen Sie ihn Ihrer Authenticator-App hinzu und bestätigen Sie ihn mit einem Code: Ihr bisheriger Authenticator funktioniert weiter, bis Sie das tun.',
  scanStep: 'Scannen Sie diesen QR-Code mit Ihrer Authenticator-App.',
  qrAlt: 'QR-Code für {issuer}, Konto {account}',
  openInApp: 'Auf diesem Telefon? Den Schlüssel in der Authenticator-App öffnen',
  manualTitle: 'Sie können den Code nicht scannen? Geben Sie diese Angaben in Ihrer App ein:',
  issuerLabel: 'Aussteller',
  secretLabel: 'Schlüssel',
  typeLabel: 'Art',
  typeValue: 'Zeitbasiert (TOTP), 6 Ziffern, alle 30 Sekunden',
  secretWarning: 'Geben Sie diesen Schlüssel nicht weiter: Wer ihn hat, kann Codes für Ihr Konto erzeugen.',
  codeLabel: '6-stelliger Code aus der App',
  codeHint: 'Die App zeigt alle 30 Sekunden einen neuen Code.',
  codeSubmit: 'Zwei-Faktor-Authentifizierung aktivieren',
  confirmSubmit: 'Bestätigen',

  doneTitle: 'Die Zwei-Faktor-Authentifizierung ist aktiv',
  doneConfirmedTitle: 'Ihre Authenticator-App ist bestätigt',
  doneSignInNewPassword:
    'Melden Sie sich ab jetzt bei {brand} mit Ihrer E-Mail-Adresse {account}, Ihrem neuen Passwort und dem 6-stelligen Code aus Ihrer Authenticator-App an.',
  doneSignIn:
    'Melden Sie sich ab jetzt bei {brand} mit Ihrer E-Mail-Adresse {account}, Ihrem Passwort und dem 6-stelligen Code aus Ihrer Authenticator-App an.',
  doneSessionsEnded: 'Zu Ihrer Sicherheit wurden andere Anmeldungen dieses Kontos beendet.',
  doneKeepApp:
    'Behalten Sie die Authenticator-App auf Ihrem Telefon. Wenn Sie sie verlieren, bitten Sie Ihre Administration, die Zwei-Faktor-Authentifizierung zurückzusetzen.',
  doneRecoveryCodes:
    'Erstellen Sie nach der Anmeldung Wiederherstellungscodes und bewahren Sie sie getrennt von Ihrem Telefon sicher auf: Jeder Code meldet Sie einmal an, falls Sie Ihr Telefon verlieren.',
  doneContinue: 'Weiter zu {brand}',

  invalidTitle: 'Dieser Link ist nicht mehr gültig',
  invalidText: 'Der Link ist ungültig, wurde schon verwendet oder ist abgelaufen. Ein Link funktioniert einmal und 24 Stunden lang.',
  setupExpiredText: 'Die Einrichtung wurde nicht rechtzeitig abgeschlossen. Fordern Sie einen neuen Link an und beginnen Sie erneut.',
  activationInvalidText:
    'Um die Zwei-Faktor-Authentifizierung einzurichten, gehen Sie zurück zum Reseller-Portal und wählen Sie erneut „2FA aktivieren“, oder fordern Sie unten einen neuen Link per E-Mail an.',
  alreadyActiveTitle: 'Die Zwei-Faktor-Authentifizierung ist bereits aktiv',
  alreadyActiveText: 'Melden Sie sich mit Ihrem Passwort und dem Code aus Ihrer Authenticator-App an.',
  requestTitle: 'Neuen Link anfordern',
  forgotTitle: 'Passwort zurücksetzen',
  requestIntro:
    'Geben Sie die E-Mail-Adresse Ihres Kontos ein. Wir senden Ihnen einen Link, mit dem Sie ein neues Passwort festlegen und die Zwei-Faktor-Authentifizierung einrichten.',
  emailLabel: 'E-Mail-Adresse',
  requestSubmit: 'Link senden',

  sentTitle: 'Prüfen Sie Ihr Postfach',
  sentText:
    'Wenn zu dieser Adresse ein Konto besteht, ist eine E-Mail mit einem Link unterwegs. Der Link funktioniert 24 Stunden lang. Kommt in einigen Minuten nichts an, sehen Sie im Spam-Ordner nach.',

  csrfTitle: 'Dieses Formular ist abgelaufen',
  csrfText:
    'Das Formular konnte nicht angenommen werden: Es ist zu alt, wurde durch ein anderes Fenster ersetzt, oder Cookies sind für diese Seite gesperrt. Es wurde nichts geändert. Öffnen Sie den Link aus Ihrer E-Mail erneut.',
  errorTitle: 'Etwas ist schiefgelaufen',
  errorText: 'Es wurde nichts geändert. Bitte versuchen Sie es in einigen Minuten erneut.',
  tooLargeText: 'Das Formular war zu groß und wurde nicht angenommen. Es wurde nichts geändert.',
  startAgain: 'Neuen Link anfordern',

  errMismatch: 'Die beiden Passwörter stimmen nicht überein. Geben Sie zweimal dasselbe Passwort ein.',
  errPasswordTooShort: 'Das Passwort muss mindestens {min} Zeichen haben.',
  errPasswordTooLong: 'Das Passwort darf höchstens {max} Zeichen haben.',
  errPasswordIsEmail: 'Das Passwort darf nicht Ihre E-Mail-Adresse sein.',
  errPasswordTooSimple: 'Das Passwort ist zu einfach: Verwenden Sie mindestens 4 verschiedene Zeichen.',
  errCodeFormat: 'Geben Sie den 6-stelligen Code aus Ihrer Authenticator-App ein, nur Ziffern.',
  errCodeWrong: 'Dieser Code ist falsch oder abgelaufen. Geben Sie den Code ein, den Ihre App jetzt anzeigt.',
  errRateLimited: 'Zu viele Fehlversuche. Warten Sie {minutes} Minuten und versuchen Sie es dann erneut.',
  errEmail: 'Geben Sie eine gültige E-Mail-Adresse ein, z. B. name@example.com.',
};

export const STRINGS: Record<Lang, Strings> = { en, de };

export const isLang = isLocale;

/** Fills {name} placeholders; unknown ones stay as they are. */
export function format(text: string, values: Record<string, string | number>): string {
  return text.replace(/\{(\w+)\}/g, (all, name: string) => (name in values ? String(values[name]) : all));
}

/** The supported language the client prefers most (RFC 9110 quality values), or null. */
export function fromAcceptLanguage(header: string | undefined): Lang | null {
  if (!header) return null;
  let best: { lang: Lang; q: number } | null = null;
  for (const part of header.split(',').slice(0, 20)) {
    const [range, ...params] = part.trim().split(';');
    const primary = range?.trim().toLowerCase().split('-')[0];
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!isLang(primary) || !Number.isFinite(q) || q <= 0) continue;
    if (!best || q > best.q) best = { lang: primary, q };
  }
  return best?.lang ?? null;
}
