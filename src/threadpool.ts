// Imported first by the entry points: libuv's thread pool (default 4 threads) serves scrypt, the SQLite
// driver, DNS and file I/O alike. It is sized before anything uses it: from the environment or .env
// (UV_THREADPOOL_SIZE, an explicit setting wins), else 8.
import { loadDotEnv } from './config';

try {
  loadDotEnv();
} catch {
  // An unreadable .env is reported by the entry point's own loadDotEnv().
}
process.env.UV_THREADPOOL_SIZE ??= '8';
