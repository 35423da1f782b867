// Imported first by the entry points: libuv's thread pool (default 4 threads) serves scrypt, the SQLite
// driver, DNS and file I/O alike. It is sized before anything uses it; an explicit setting wins.
process.env.UV_THREADPOOL_SIZE ??= '8';
