/**
 * The running daemon's presence in its state directory: `daemon.json` says which process runs on
 * this state (pid, command, start) and what it knows about the Hub right now (breaker state, last
 * network errors), so `status` — another process — can tell the truth: a daemon alive or not,
 * uploads in flight or cut off, the Hub up or down. Written atomically (temp file + rename), removed
 * on exit; a file left by a killed process names a pid that is gone.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { HubFetchEvent } from '../net/hub-fetch.js';

export const PRESENCE_FILE = 'daemon.json';
const MAX_ERRORS = 5;

export interface PresenceInfo {
  pid: number;
  command: string;
  startedAt: string;
  /** Set while the breaker is open: all Hub requests paused, one probe at a time. */
  hubUnreachableSince?: string;
  nextProbeAt?: string;
  /** Newest first. */
  lastNetworkErrors: Array<{ at: string; error: string }>;
}

export class Presence {
  readonly #file: string;
  #info: PresenceInfo;
  #closed = false;

  constructor(stateDir: string, command: string, now = () => Date.now()) {
    this.#file = path.join(stateDir, PRESENCE_FILE);
    this.#now = now;
    this.#info = { pid: process.pid, command, startedAt: new Date(now()).toISOString(), lastNetworkErrors: [] };
    this.#write();
    const remove = () => this.close();
    process.once('exit', remove);
  }

  readonly #now: () => number;

  /** What the Hub fetch layer reports: breaker changes and failed attempts. */
  hubEvent(event: HubFetchEvent): void {
    const at = new Date(this.#now()).toISOString();
    if (event.type === 'breaker-open') {
      this.#info.hubUnreachableSince ??= at;
      this.#info.nextProbeAt = new Date(this.#now() + event.probeInMs).toISOString();
    } else if (event.type === 'breaker-closed') {
      delete this.#info.hubUnreachableSince;
      delete this.#info.nextProbeAt;
    } else if (event.type === 'retry' || (event.type === 'done' && event.error !== undefined)) {
      const error = event.type === 'retry' ? (event.error ?? `HTTP ${event.status}`) : (event.error as string);
      this.#info.lastNetworkErrors = [{ at, error: `${hostOf(event.url)}: ${error}` }, ...this.#info.lastNetworkErrors].slice(0, MAX_ERRORS);
    } else {
      return;
    }
    this.#write();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    rmSync(this.#file, { force: true });
  }

  #write(): void {
    if (this.#closed) return;
    const tmp = `${this.#file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(this.#info)}\n`, { mode: 0o600 });
      renameSync(tmp, this.#file);
    } catch {
      // Presence is for status only; a full disk must not stop uploads.
    }
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the Hub';
  }
}

/** Reads the presence file of a state dir: undefined when none; `alive` false when its process is gone. */
export function readPresence(stateDir: string): { info: PresenceInfo; alive: boolean } | undefined {
  let info: PresenceInfo;
  try {
    info = JSON.parse(readFileSync(path.join(stateDir, PRESENCE_FILE), 'utf8')) as PresenceInfo;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(info.pid) || info.pid <= 0) return undefined;
  return { info: { ...info, lastNetworkErrors: Array.isArray(info.lastNetworkErrors) ? info.lastNetworkErrors : [] }, alive: processAlive(info.pid) };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user (a system service seen by its operator).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
