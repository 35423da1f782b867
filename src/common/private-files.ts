// The data folder and the SQLite file hold password hashes, TOTP secrets, tokens' hashes and (outside
// production) the secret key: they are readable by the owner only (FLOWS.md 8), whatever the umask.
// Created that way, and tightened at start when an older install left them readable by others.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

function restrict(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (error) {
    // Start-up stops rather than run with the data open to others; the message says what to fix.
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new Error(`cannot make ${path} private to its owner (${code}): run the server as the user who owns it`, { cause: error });
  }
}

/** Creates the folder (and missing parents) owner-only; an existing folder is not changed. */
export function makeFolder(path: string): void {
  mkdirSync(path, { recursive: true, mode: DIR_MODE });
}

/** Tightens the folder when it exists (the data folder is only created when something is kept in it). */
export function tightenFolder(path: string): void {
  if (existsSync(path)) restrict(path, DIR_MODE);
}

/**
 * The SQLite file exists and is owner-only (rw-------) before the driver opens it, which would create
 * it with the process umask (typically rw-r--r--). SQLite gives its -wal and -shm files the mode of
 * the main file; ones left over by an older install are tightened too.
 */
export function privateSqliteFile(path: string): void {
  closeSync(openSync(path, 'a', FILE_MODE));
  restrict(path, FILE_MODE);
  for (const companion of [`${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    if (existsSync(companion)) restrict(companion, FILE_MODE);
  }
}
