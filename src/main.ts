// Start-up: config -> ORM (migrations) -> schema -> HTTP. SIGTERM/SIGINT shut down gracefully.
import './threadpool';
import 'reflect-metadata';
import { ConfigError, loadConfig, loadDotEnv } from './config';
import { startApp } from './app';

async function main(): Promise<void> {
  let config;
  try {
    loadDotEnv();
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`license-portal: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const app = await startApp(config);
  const shutdown = (signal: string) => {
    app.services.log.info('shutting down', { signal });
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        app.services.log.error('shutdown failed', { message: String(error) });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`license-portal: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
