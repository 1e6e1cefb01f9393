/**
 * Opening a generated page in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; no downloaded browsers): collects console errors and page errors, and saves a
 * screenshot under test/artifacts/ (git-ignored).
 *
 * Without the browser the browser tests are skipped on a developer machine and FAIL in CI (CI=true):
 * they run there and openPage says what is missing.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(import.meta.dirname, '..', 'artifacts');
export const hasChromium = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true';
/** For `it.skipIf`: true only off CI, where a missing browser skips the browser tests. */
export const skipBrowserTests = !hasChromium && !inCi;

export interface OpenedPage {
  page: Page;
  /** Console messages of type error, page errors and failed requests. */
  errors: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function openPage(target: string): Promise<OpenedPage> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} does not exist${inCi ? ' and CI=true, so the browser tests cannot be skipped' : ''}; install it with: apt-get install chromium (or set CHROMIUM_PATH)`);
  }
  const profile = await mkdtemp(path.join(tmpdir(), 'medallion-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  const url = /^https?:/.test(target) ? target : pathToFileURL(target).href;
  await page.goto(url, { waitUntil: 'load' });
  return {
    page,
    errors,
    async screenshot(name) {
      await mkdir(ARTIFACTS, { recursive: true });
      const file = path.join(ARTIFACTS, name);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
