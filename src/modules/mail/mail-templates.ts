// The portal's e-mails, each in English and German (FLOWS.md section 13): the values every template
// takes, and its subject per language. The bodies are templates/<name>.html.hbs and .text.hbs (English)
// and templates/de/<name>.html.hbs and .text.hbs (German); test/unit/mail.test.ts checks that both
// languages exist for every template and use the same values.
import type { Locale } from '../../common/locale';

/**
 * The values of each template. Dates are Date objects: the templates show them with the helpers
 * {{dateTime x}} (date and time, UTC) or {{date x}} (the day, UTC), formatted for the language.
 */
export interface MailVars {
  invitation: { name: string; link: string; expiresHours: number };
  'password-reset': { name: string; link: string; expiresHours: number };
  'two-factor-activation': { name: string; link: string; expiresHours: number };
  'password-changed': { name: string; changedAt: Date; secretShownAgain: boolean };
  'two-factor-reset': { name: string; actorName: string; changedAt: Date };
  'api-token-created': { name: string; tokenName: string; createdAt: Date };
  'expiry-reminder': {
    name: string;
    /** The reseller's name; empty when unknown. */
    reseller: string;
    count: number;
    portalUrl: string;
    licenses: { key: string; customer: string; kind: string; seats: number; validUntil: Date; days: number }[];
  };
  'account-changed': { name: string; actorName: string; changedAt: Date; fields: string };
  'account-reactivated': { name: string; twoFactorEnabled: boolean };
  'reseller-suspended': { name: string; resellerName: string };
  'reseller-reinstated': { name: string; resellerName: string };
  'customer-transferred': { name: string; customerName: string; fromName: string; toName: string; gained: boolean };
  'recovery-codes-generated': { name: string; count: number; generatedAt: Date };
  'recovery-code-used': { name: string; remaining: number; usedAt: Date };
}

export type MailTemplate = keyof MailVars;

type Subject<T extends MailTemplate> = (vars: MailVars[T], productName: string) => string;

/** The subject of every template in every language (made one line by the mailer). */
export const SUBJECTS: { [T in MailTemplate]: Record<Locale, Subject<T>> } = {
  invitation: {
    en: (_, product) => `Your ${product} account`,
    de: (_, product) => `Ihr Konto bei ${product}`,
  },
  'password-reset': {
    en: (_, product) => `Reset your ${product} password`,
    de: (_, product) => `Passwort für ${product} zurücksetzen`,
  },
  'two-factor-activation': {
    en: (_, product) => `Activate two-factor authentication for the ${product}`,
    de: (_, product) => `Zwei-Faktor-Authentifizierung für ${product} aktivieren`,
  },
  'password-changed': {
    en: (_, product) => `Your ${product} password was changed`,
    de: (_, product) => `Ihr Passwort für ${product} wurde geändert`,
  },
  'two-factor-reset': {
    en: (_, product) => `Two-factor authentication of your ${product} account was reset`,
    de: (_, product) => `Die Zwei-Faktor-Authentifizierung Ihres Kontos bei ${product} wurde zurückgesetzt`,
  },
  'api-token-created': {
    en: (_, product) => `An API token was created for your ${product} account`,
    de: (_, product) => `Für Ihr Konto bei ${product} wurde ein API-Token erstellt`,
  },
  'expiry-reminder': {
    en: (v) => `${v.count} license(s) of ${v.reseller || 'your customers'} expire soon`,
    de: (v) => `${v.count} Lizenz(en) von ${v.reseller || 'Ihren Kunden'} laufen bald ab`,
  },
  'account-changed': {
    en: (_, product) => `Your ${product} account was changed`,
    de: (_, product) => `Ihr Konto bei ${product} wurde geändert`,
  },
  'account-reactivated': {
    en: (_, product) => `Your ${product} account was reactivated`,
    de: (_, product) => `Ihr Konto bei ${product} wurde wieder aktiviert`,
  },
  'reseller-suspended': {
    en: (_, product) => `Your ${product} access is suspended`,
    de: (_, product) => `Ihr Zugang zu ${product} ist gesperrt`,
  },
  'reseller-reinstated': {
    en: (_, product) => `Your ${product} access is restored`,
    de: (_, product) => `Ihr Zugang zu ${product} ist wiederhergestellt`,
  },
  'customer-transferred': {
    en: (v, product) =>
      v.gained
        ? `${product}: customer ${v.customerName} was transferred to ${v.toName}`
        : `${product}: customer ${v.customerName} was transferred away from ${v.fromName}`,
    de: (v, product) =>
      v.gained
        ? `${product}: Kunde ${v.customerName} wurde an ${v.toName} übertragen`
        : `${product}: Kunde ${v.customerName} gehört nicht mehr zu ${v.fromName}`,
  },
  'recovery-codes-generated': {
    en: (_, product) => `New recovery codes for your ${product} account`,
    de: (_, product) => `Neue Wiederherstellungscodes für Ihr Konto bei ${product}`,
  },
  'recovery-code-used': {
    en: (_, product) => `A recovery code was used to sign in to your ${product} account`,
    de: (_, product) => `Ein Wiederherstellungscode wurde für die Anmeldung bei ${product} verwendet`,
  },
};

export const MAIL_TEMPLATES = Object.keys(SUBJECTS) as MailTemplate[];

const DATE_TIME: Record<Locale, Intl.DateTimeFormat> = {
  en: new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }),
  de: new Intl.DateTimeFormat('de-DE', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }),
};
const DAY: Record<Locale, Intl.DateTimeFormat> = {
  en: new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeZone: 'UTC' }),
  de: new Intl.DateTimeFormat('de-DE', { dateStyle: 'long', timeZone: 'UTC' }),
};

/** "3 March 2026 at 10:05 UTC", "3. März 2026 um 10:05 UTC". */
export function formatDateTime(date: Date, locale: Locale): string {
  return `${DATE_TIME[locale].format(date)} UTC`;
}

/** "3 March 2026", "3. März 2026" (the day in UTC). */
export function formatDay(date: Date, locale: Locale): string {
  return DAY[locale].format(date);
}
