// The languages of the portal (FLOWS.md section 13): a user's locale chooses the language of the user's
// e-mails; the server-rendered pages speak the same two.

export const LOCALES = ['en', 'de'] as const;
export type Locale = (typeof LOCALES)[number];

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
}

/** A stored locale as one the portal speaks: anything unknown is English. */
export function localeOf(value: string | null | undefined): Locale {
  return isLocale(value) ? value : 'en';
}
