/**
 * A second local user for tests that need one (an agent attacking the daemon, the daemon reading
 * as an unprivileged user). Only root can switch users: `otherUserSkipReason` says why a test
 * cannot run, else `runAs` runs a command as `nobody` through setpriv.
 *
 * The checkout may sit in a mode-0700 folder the other user cannot enter, so nothing of it is used
 * in place: `sharedDir()` is a temp folder under /tmp both users reach, and `reachableCli()` is a
 * copy of the built CLI (dist/, package.json and the production packages of node_modules) in such a
 * folder, made once per test file. Files already readable by everyone are hard links when the copy
 * is on the same file system (about 4,000 links, well under a second), else copied.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, onTestFinished } from 'vitest';

const CHECKOUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface OtherUser {
  uid: number;
  gid: number;
}

/** `nobody`: exists on every Debian-like system and owns nothing. */
export const OTHER_USER: OtherUser = { uid: 65534, gid: 65534 };

/** Why a two-user test cannot run here, or undefined when it can. */
export function otherUserSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to act as a second user (run the suite as root, as CI does)';
  if (spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0) return 'needs setpriv (util-linux) to switch users';
  return undefined;
}

/** Runs a command as the other user, with a minimal environment, in `cwd`. */
export function runAs(command: string, args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number; user?: OtherUser }): SpawnSyncReturns<string> {
  const user = options.user ?? OTHER_USER;
  return spawnSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', command, ...args], {
    encoding: 'utf8',
    cwd: options.cwd,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: options.cwd, ...options.env },
    timeout: options.timeoutMs ?? 30_000,
  });
}

/** Runs a shell script as the other user; throws with its output when it fails. */
export function shAs(script: string, cwd: string): void {
  const r = runAs('sh', ['-c', script], { cwd });
  if (r.status !== 0) throw new Error(`as uid ${OTHER_USER.uid}: ${script}\nexit ${r.status}\n${r.stdout}${r.stderr}`);
}

/** A fresh folder under /tmp (mode 0755, so the other user can enter it), removed when the test ends. */
export function sharedDir(prefix = 'hfo-2u-'): string {
  const dir = mkdtempSync(path.join('/tmp', prefix));
  chmodSync(dir, 0o755);
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let cliCopy: { root: string; main: string } | undefined;

/**
 * The built CLI at a place the other user can read: returns the path of its main.js. Made once per
 * test file (removed after it), from dist/ as built by `npm run build`.
 */
export function reachableCli(): string {
  if (cliCopy) return cliCopy.main;
  const started = Date.now();
  const root = mkdtempSync(path.join('/tmp', 'hfo-cli-'));
  chmodSync(root, 0o755);
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  copyTree(path.join(CHECKOUT, 'dist'), path.join(root, 'dist'));
  copyTree(path.join(CHECKOUT, 'package.json'), path.join(root, 'package.json'));
  const lock = JSON.parse(readFileSync(path.join(CHECKOUT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
  for (const [where, info] of Object.entries(lock.packages)) {
    // Production packages only; optional ones for other platforms are not installed.
    if (where === '' || info.dev || info.devOptional || !existsSync(path.join(CHECKOUT, where))) continue;
    if (existsSync(path.join(root, where))) continue; // nested under one copied already
    copyTree(path.join(CHECKOUT, where), path.join(root, where));
  }
  cliCopy = { root, main: path.join(root, 'dist/cli/main.js') };
  if (process.env['HFO_TEST_VERBOSE']) console.info(`reachable CLI copy made in ${Date.now() - started} ms`);
  return cliCopy.main;
}

/** Copies a file or folder, hard-linking files everyone may read already (same file system), readable by all. */
function copyTree(from: string, to: string): void {
  const s = lstatSync(from);
  if (s.isDirectory()) {
    mkdirSync(to, { recursive: true, mode: 0o755 });
    chmodSync(to, 0o755);
    for (const name of readdirSync(from)) copyTree(path.join(from, name), path.join(to, name));
  } else if (s.isSymbolicLink()) {
    symlinkSync(readlinkSync(from), to);
  } else if (s.isFile()) {
    mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
    if ((s.mode & 0o004) !== 0) {
      try {
        linkSync(from, to);
        return;
      } catch {
        /* another file system: copy */
      }
    }
    copyFileSync(from, to);
    chmodSync(to, (s.mode & 0o111) !== 0 ? 0o755 : 0o644);
  }
}
