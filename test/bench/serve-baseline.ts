// Child process entry: the baseline server of baseline.ts.
import { startBaseline } from './baseline';
import { serveInChild } from './child-protocol';

serveInChild(() => startBaseline({ port: 0, host: process.env.HOST || '127.0.0.1' }));
