// Operator commands: `npm run cli -- <command> [options]`. One-line errors and a non-zero exit on failure.
import '../threadpool';
import 'reflect-metadata';
import { createReadStream, fstatSync, statSync, type ReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, loadDotEnv } from '../config';
import { migrate, openOrm } from '../db/orm';
import { tightenFolder } from '../common/private-files';
import { AppError } from '../errors';
import { createLogger } from '../logger';
import { CsvFormatError } from '../modules/imports/csv-cells';
import { importLicenses, REPORT_HEADER, reportLines } from '../modules/imports/license-csv';
import { exportLicenses } from '../modules/imports/license-export';
import { createServices, type Services } from '../services';
import { deactivateUser, reactivateUser, reinstateReseller, suspendReseller } from './access';
import { createAdmin } from './create-admin';

const USAGE = `usage: npm run cli -- <command>

commands:
  create-admin --email <e> --name <n>       create an ADMIN and e-mail the invitation (the link is printed too)
  import-licenses --file <csv> [--reseller <id>] [--dry-run]
                                             create licenses from a CSV file; per-row report on stdout
                                             (customer names resolve among --reseller's customers or the row's reseller column)
  export-licenses [--reseller <id>]          write licenses as CSV to stdout
  send-expiry-reminders                      e-mail each reseller's users a digest of licenses expiring within 30, 7 and 1 days
  deactivate-user --email <e> [--reason <r>] end the user's sessions, API tokens and links; sign-in then fails
  reactivate-user --email <e>                let a deactivated user sign in again (2FA as it was)
  suspend-reseller --id <id> --reason <r>    sign out the reseller's users, show its licenses SUSPENDED, create nothing under it
  reinstate-reseller --id <id>               undo a suspension

exit codes: 0 done (also when there was nothing to change), 1 error (one line on stderr)
`;

export class UsageError extends Error {}

/** The file as a stream, once it is open (a missing or unreadable file fails here, not while reading). */
function openForReading(path: string): Promise<ReadStream> {
  return new Promise((resolve, reject) => {
    const stream = createReadStream(path, { highWaterMark: 256 * 1024 });
    stream.once('open', (fd: number) => {
      if (fstatSync(fd).isDirectory()) {
        stream.destroy();
        reject(new Error('a directory'));
      } else resolve(stream);
    });
    stream.once('error', reject);
  });
}

type Command = (args: string[], services: Services) => Promise<void>;

const commands: Record<string, Command> = {
  async 'create-admin'(args, services) {
    const { values } = parseArgs({ args, options: { email: { type: 'string' }, name: { type: 'string' } }, strict: true });
    if (!values.email || !values.name) throw new UsageError('create-admin needs --email <e> and --name <n>');
    const { user, link } = await createAdmin(services, values.email, values.name);
    await services.background.drain();
    process.stdout.write(`Created ADMIN ${user.email} (${user.id}). Invitation sent; the link (valid 24 hours):\n${link}\n`);
  },

  async 'import-licenses'(args, services) {
    const { values } = parseArgs({
      args,
      options: { file: { type: 'string' }, reseller: { type: 'string' }, 'dry-run': { type: 'boolean' } },
      strict: true,
    });
    if (!values.file) throw new UsageError('import-licenses needs --file <csv>');
    let file: ReadStream;
    try {
      file = await openForReading(values.file);
    } catch {
      throw new UsageError(`cannot read ${values.file}`);
    }
    const { size } = statSync(values.file);
    const started = Date.now();
    const write = (text: string) =>
      process.stdout.write(text) ? undefined : new Promise((resolve) => process.stdout.once('drain', resolve));
    let headerWritten = false;
    const progress = (done: number) => {
      if (done >= 1000)
        process.stderr.write(`\rprocessed ${done} rows (${Math.round((100 * file.bytesRead) / Math.max(1, size))}% of the file)`);
    };
    const summary = await importLicenses(services.orm.em.fork(), file, {
      dryRun: values['dry-run'] ?? false,
      resellerId: values.reseller,
      // The report goes out batch by batch, as the file is read (the header once the file's own header is known good).
      onRows: async (rows) => {
        if (!headerWritten) await write(REPORT_HEADER);
        headerWritten = true;
        await write(reportLines(rows));
      },
      onProgress: progress,
    });
    if (!headerWritten) await write(REPORT_HEADER);
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(
      `${summary.rows >= 1000 ? `\rprocessed ${summary.rows}/${summary.rows} rows` : ''}\n${values['dry-run'] ? 'dry run: ' : ''}${summary.rows} rows: ${summary.created} created, ${summary.existing} already there, ` +
        `${summary.failed} failed (${seconds.toFixed(1)} s)\n`,
    );
    if (summary.failed > 0) process.exitCode = 2;
  },

  async 'export-licenses'(args, services) {
    const { values } = parseArgs({ args, options: { reseller: { type: 'string' } }, strict: true });
    for await (const chunk of exportLicenses(services.orm.em.fork(), { resellerId: values.reseller })) {
      if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once('drain', resolve));
    }
  },

  async 'deactivate-user'(args, services) {
    const { values } = parseArgs({ args, options: { email: { type: 'string' }, reason: { type: 'string' } }, strict: true });
    if (!values.email) throw new UsageError('deactivate-user needs --email <e> (and optionally --reason <r>)');
    const { user, changed } = await deactivateUser(services, values.email, values.reason ?? null);
    process.stdout.write(
      changed
        ? `Deactivated ${user.email} (${user.id}): its sessions, API tokens and open links were ended.\n`
        : `${user.email} (${user.id}) was already deactivated; nothing changed.\n`,
    );
  },

  async 'reactivate-user'(args, services) {
    const { values } = parseArgs({ args, options: { email: { type: 'string' } }, strict: true });
    if (!values.email) throw new UsageError('reactivate-user needs --email <e>');
    const { user, changed } = await reactivateUser(services, values.email);
    process.stdout.write(
      changed ? `Reactivated ${user.email} (${user.id}).\n` : `${user.email} (${user.id}) is active; nothing changed.\n`,
    );
  },

  async 'suspend-reseller'(args, services) {
    const { values } = parseArgs({ args, options: { id: { type: 'string' }, reason: { type: 'string' } }, strict: true });
    if (!values.id || values.reason === undefined) throw new UsageError('suspend-reseller needs --id <id> and --reason <r>');
    const { reseller, changed } = await suspendReseller(services, values.id, values.reason);
    process.stdout.write(
      changed
        ? `Suspended ${reseller.name} (${reseller.id}): its users are signed out and its licenses are SUSPENDED.\n`
        : `${reseller.name} (${reseller.id}) was already suspended; nothing changed.\n`,
    );
  },

  async 'reinstate-reseller'(args, services) {
    const { values } = parseArgs({ args, options: { id: { type: 'string' } }, strict: true });
    if (!values.id) throw new UsageError('reinstate-reseller needs --id <id>');
    const { reseller, changed } = await reinstateReseller(services, values.id);
    process.stdout.write(
      changed
        ? `Reinstated ${reseller.name} (${reseller.id}).\n`
        : `${reseller.name} (${reseller.id}) is not suspended; nothing changed.\n`,
    );
  },

  async 'send-expiry-reminders'(args, services) {
    parseArgs({ args, options: {}, strict: true });
    const result = await services.reminders.run(services.orm.em.fork());
    process.stdout.write(`${result.reminded} license reminder(s) in ${result.mails} e-mail(s).\n`);
    if (result.failed > 0) {
      // Cron must notice: the failed reminders were released and go out with the next run.
      process.stderr.write(`error: ${result.failed} reminder(s) could not be e-mailed; they will be retried on the next run\n`);
      process.exitCode = 1;
    }
  },
};

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(USAGE);
    return;
  }
  const handler = commands[command];
  if (!handler) throw new UsageError(`unknown command "${command}" (try: npm run cli -- help)`);

  loadDotEnv();
  const config = loadConfig();
  // Operator output goes to stdout; the server's info logs would only clutter it.
  const log = createLogger(config.logLevel === 'info' ? 'error' : config.logLevel);
  tightenFolder(config.dataDir);
  const orm = await openOrm(config.database);
  try {
    await migrate(orm);
    const services = createServices(config, log, orm);
    try {
      await handler(rest, services);
      await services.background.drain();
      services.mailer.close();
    } finally {
      await services.reader.close();
    }
  } finally {
    await orm.close();
  }
}

run(process.argv.slice(2)).catch((error: unknown) => {
  const known =
    error instanceof AppError ||
    error instanceof ConfigError ||
    error instanceof UsageError ||
    error instanceof CsvFormatError ||
    String((error as { code?: string }).code ?? '').startsWith('ERR_PARSE_ARGS');
  const message = known ? (error as Error).message : `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
  process.stderr.write(`error: ${message}\n`);
  process.exitCode = 1;
});
