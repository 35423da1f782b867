// Command-line options of `npm run bench` (see run.ts).
export type ScaleName = 'small' | 'default' | 'large';

export interface Scale {
  name: ScaleName;
  resellers: number;
  customers: number;
  licenses: number;
}

export const SCALES: Record<ScaleName, Scale> = {
  small: { name: 'small', resellers: 5, customers: 200, licenses: 2_000 },
  default: { name: 'default', resellers: 50, customers: 5_000, licenses: 100_000 },
  large: { name: 'large', resellers: 500, customers: 50_000, licenses: 1_000_000 },
};

export interface BenchOptions {
  scale: Scale;
  /** postgres://... or null for a temporary SQLite file. */
  db: string | null;
  connections: number;
  /** Seconds per autocannon run. */
  duration: number;
  /** Seconds of unmeasured load on each server before the first round. */
  warmup: number;
  /** Sequential requests for each of the first-page and deep-page p50s. */
  samples: number;
  /** How deep the deep page is (pages of 50); capped by what the data holds. */
  deepPage: number;
  /** Concurrent login loops during the "list while logins run" run. */
  loginClients: number;
  /** JSON result file; default bench-results/<engine>-<scale>-<timestamp>.json. */
  out: string | null;
  /** Rows of the CSV import figure (import.ts); default 2,000 at small scale, else 50,000. */
  importRows: number;
}

export const USAGE = `usage: npm run bench -- [options]
  --scale small|default|large   data size (default: 50 resellers, 5,000 customers, 100,000 licenses)
  --db postgres://...            use PostgreSQL (a fresh schema, dropped at the end); default: a temp SQLite file
  --connections N                autocannon connections (default 20)
  --duration S                   seconds per measured run (default 10)
  --warmup S                     seconds of unmeasured load per server first (default min(3, duration))
  --samples N                    sequential requests for the first/deep page p50 (default 200)
  --deep-page N                  page number of the deep page (default 1000)
  --login-clients N              concurrent login loops (default 4)
  --out FILE                     JSON result file (default bench-results/<engine>-<scale>-<timestamp>.json)
  --import-rows N                rows of the CSV import figure (default 2,000 at small scale, else 50,000)`;

function positiveNumber(name: string, value: string | undefined, integer: boolean): number {
  const n = Number(value);
  if (value === undefined || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`${name} needs a positive ${integer ? 'integer' : 'number'}, got ${value ?? 'nothing'}`);
  }
  return n;
}

export function parseOptions(argv: string[]): BenchOptions {
  const options: BenchOptions = {
    scale: SCALES.default,
    db: null,
    connections: 20,
    duration: 10,
    warmup: NaN,
    samples: 200,
    deepPage: 1000,
    loginClients: 4,
    out: null,
    importRows: NaN,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--scale': {
        const name = value();
        if (name !== 'small' && name !== 'default' && name !== 'large')
          throw new Error(`--scale must be small, default or large, got ${name}`);
        options.scale = SCALES[name];
        break;
      }
      case '--db': {
        const url = value();
        if (!url || !/^postgres(ql)?:\/\//.test(url)) throw new Error(`--db must be a postgres:// URL, got ${url ?? 'nothing'}`);
        options.db = url;
        break;
      }
      case '--connections':
        options.connections = positiveNumber(flag, value(), true);
        break;
      case '--duration':
        options.duration = positiveNumber(flag, value(), false);
        break;
      case '--warmup': {
        const v = value();
        options.warmup = v === '0' ? 0 : positiveNumber(flag, v, false);
        break;
      }
      case '--samples':
        options.samples = positiveNumber(flag, value(), true);
        break;
      case '--deep-page':
        options.deepPage = positiveNumber(flag, value(), true);
        break;
      case '--login-clients':
        options.loginClients = positiveNumber(flag, value(), true);
        break;
      case '--out':
        options.out = value() ?? null;
        break;
      case '--import-rows':
        options.importRows = positiveNumber(flag, value(), true);
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg}\n${USAGE}`);
    }
  }
  if (Number.isNaN(options.importRows)) options.importRows = options.scale.name === 'small' ? 2_000 : 50_000;
  if (Number.isNaN(options.warmup)) options.warmup = Math.min(3, options.duration);
  return options;
}
