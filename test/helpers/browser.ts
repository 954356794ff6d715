/**
 * Real headless Chromium for the dashboard tests: Debian's `chromium` (installed by .ci/run),
 * driven with puppeteer-core, which downloads no browser. Screenshots go to test-artifacts/ (git-ignored).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM = process.env['HF_OUTBOX_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
export const ARTIFACTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-artifacts/dashboard');

export async function launchChromium(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the dashboard tests need Debian's chromium (apt-get install --no-install-recommends chromium; .ci/run installs it)`);
  }
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'hfo-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir,
    // Root in a container has no user namespaces for the sandbox; the pages are our own dashboard.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--js-flags=--expose-gc',
    ],
    protocolTimeout: 120_000,
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export interface WatchedPage {
  page: Page;
  /** Uncaught errors, console errors and dialogs (alert/confirm/prompt) the page produced. */
  problems: string[];
  dialogs: string[];
}

/** A 1280×800 page that records every error, console error and dialog. */
export async function openPage(browser: Browser): Promise<WatchedPage> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  return { page, problems, dialogs };
}

/** Saves a 1280×800 screenshot of the page as test-artifacts/dashboard/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file as `${string}.png` });
  return file;
}

/** Shows a view and waits until it has rendered. */
export async function showView(page: Page, baseUrl: string, view: 'board' | 'results' | 'artifacts' | 'agent'): Promise<void> {
  await page.goto(`${baseUrl}#${view}`);
  await page.waitForSelector(`main[data-view="${view}"]`, { timeout: 30_000 });
}

/** JS heap in use after a full garbage collection, in bytes. */
export async function heapUsed(page: Page): Promise<number> {
  await page.evaluate(() => (globalThis as { gc?: () => void }).gc?.());
  return (await page.metrics()).JSHeapUsedSize ?? Number.NaN;
}
