// Child process entry: the real License Portal server (startApp), configured from this process's
// environment (the bench runner passes NODE_ENV=production, SECRET_KEY, LOG_LEVEL=error, DATABASE_*).
import 'reflect-metadata';
import { startApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { serveInChild } from './child-protocol';

serveInChild(async () => {
  const app = await startApp(loadConfig(process.env));
  return { url: app.url, stop: () => app.stop() };
});
