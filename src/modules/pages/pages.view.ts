// Renders the pages from templates/pages/*.hbs (a layout partial, every value HTML-escaped: the
// templates use no triple braces) and builds the stylesheet: templates/pages/static/portal.css behind
// the brand colour from the configuration, served as /static/portal.css so that the CSP can say
// style-src 'self'.
import Handlebars from 'handlebars';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config';
import { TEMPLATES_DIR } from '../mail/mailer';

export const PAGES_DIR = join(TEMPLATES_DIR, 'pages');

export type PageName = 'password' | 'start' | 'confirm' | 'done' | 'request' | 'sent' | 'message';
const PAGE_NAMES: PageName[] = ['password', 'start', 'confirm', 'done', 'request', 'sent', 'message'];
const PARTIALS = ['layout', 'errors', 'field'];

/** One form field: everything the field partial needs, so that the templates stay logic-free. */
export interface FieldView {
  id: string;
  type: 'password' | 'email' | 'text';
  label: string;
  hint: string | null;
  error: string | null;
  errorPrefix: string;
  invalid: boolean;
  describedBy: string | null;
  autocomplete: string;
  inputmode: string | null;
  value: string | null;
  autofocus: boolean;
  spellcheckOff: boolean;
  maxlength: number | null;
}

export function field(
  spec: Pick<FieldView, 'id' | 'type' | 'label' | 'autocomplete'> &
    Partial<Pick<FieldView, 'hint' | 'inputmode' | 'value' | 'spellcheckOff' | 'maxlength'>>,
  error: string | null,
  errorPrefix: string,
): FieldView {
  const hint = spec.hint ?? null;
  const describedBy = [hint ? `${spec.id}-hint` : null, error ? `${spec.id}-error` : null].filter(Boolean).join(' ') || null;
  return {
    hint,
    inputmode: null,
    value: null,
    spellcheckOff: false,
    maxlength: null,
    ...spec,
    error,
    errorPrefix,
    invalid: error !== null,
    describedBy,
    autofocus: false,
  };
}

/** Relative luminance (WCAG 2) of #rrggbb. */
function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(1 + i * 2, 3 + i * 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
}

function contrast(a: number, b: number): number {
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}

/** The :root block for a brand colour: text on it in black or white, links in it only when readable on white. */
export function brandCss(color: string): string {
  const l = luminance(color);
  const onBrand = contrast(l, 1) >= contrast(l, 0) ? '#ffffff' : '#111111';
  const link = contrast(l, 1) >= 4.5 ? color : '#1a1a1a';
  return `:root {\n  --brand: ${color};\n  --on-brand: ${onBrand};\n  --link: ${link};\n}\n`;
}

export class PageRenderer {
  private readonly hbs = Handlebars.create();
  private readonly pages = new Map<PageName, HandlebarsTemplateDelegate>();
  readonly css: string;
  /** /static/portal.css?v=<hash of the content>: a new brand colour or stylesheet is fetched at once. */
  readonly cssHref: string;

  constructor(config: Pick<Config, 'brandColor'>) {
    for (const name of PARTIALS) {
      this.hbs.registerPartial(name, readFileSync(join(PAGES_DIR, `_${name}.hbs`), 'utf8'));
    }
    for (const name of PAGE_NAMES) {
      this.pages.set(name, this.hbs.compile(readFileSync(join(PAGES_DIR, `${name}.hbs`), 'utf8'), { strict: true }));
    }
    this.css = brandCss(config.brandColor) + readFileSync(join(PAGES_DIR, 'static', 'portal.css'), 'utf8');
    this.cssHref = `/static/portal.css?v=${createHash('sha256').update(this.css).digest('hex').slice(0, 12)}`;
  }

  render(name: PageName, view: Record<string, unknown>): string {
    return this.pages.get(name)!(view);
  }
}

/** Every template file of the pages (for the test that no template uses triple braces). */
export function pageTemplateFiles(): string[] {
  return readdirSync(PAGES_DIR).filter((f) => f.endsWith('.hbs'));
}
