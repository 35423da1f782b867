// Operator commands: `npm run cli -- <command> [options]`. One-line errors and a non-zero exit on failure.
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, loadDotEnv } from '../config';
import { migrate, openOrm } from '../db/orm';
import { AppError } from '../errors';
import { createLogger } from '../logger';
import { createServices } from '../services';
import { createAdmin } from './create-admin';

const USAGE = `usage: npm run cli -- <command>

commands:
  create-admin --email <e> --name <n>   create an ADMIN and e-mail the invitation (the link is printed too)
`;

export class UsageError extends Error {}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(USAGE);
    return;
  }
  if (command !== 'create-admin') throw new UsageError(`unknown command "${command}" (try: npm run cli -- help)`);
  const { values } = parseArgs({ args: rest, options: { email: { type: 'string' }, name: { type: 'string' } }, strict: true });
  if (!values.email || !values.name) throw new UsageError('create-admin needs --email <e> and --name <n>');

  loadDotEnv();
  const config = loadConfig();
  const log = createLogger(config.logLevel === 'info' ? 'error' : config.logLevel);
  const orm = await openOrm(config.database);
  try {
    await migrate(orm);
    const services = createServices(config, log, orm);
    const { user, link } = await createAdmin(services, values.email, values.name);
    await services.background.drain();
    services.mailer.close();
    process.stdout.write(`Created ADMIN ${user.email} (${user.id}). Invitation sent; the link (valid 24 hours):\n${link}\n`);
  } finally {
    await orm.close();
  }
}

run(process.argv.slice(2)).catch((error: unknown) => {
  const known = error instanceof AppError || error instanceof ConfigError || error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  const message = known ? (error as Error).message : `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
  process.stderr.write(`error: ${message}\n`);
  process.exitCode = 1;
});
