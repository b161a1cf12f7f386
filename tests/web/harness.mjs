// The harness of the browser client's tests: a real canopy-server child process with a
// manual clock, and one headless Chromium per player driving the page it serves.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const TARGET = resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
export const SERVER_BIN = process.env.CANOPY_SERVER_BIN ?? join(TARGET, 'debug', 'canopy-server');
export const ARTIFACTS = process.env.CANOPY_WEB_ARTIFACTS ?? join(TARGET, 'web-e2e');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** 2026-11-25 00:00 game-local time (UTC+8), as in the Rust end-to-end tests. */
export const START = 1_795_536_000_000;
export const HOUR = 3_600_000;
export const ADMIN_TOKEN = 'web-e2e-admin';
export const METRO_GRAMS = 52;
/**
 * How long a step waits for what the page or the server owes it: generous, because two
 * Chromiums and a debug server share a loaded 2-core CI machine; a hang still fails.
 */
export const PATIENCE_MS = 60_000;

/** A canopy-server child process on loopback ports, with its own data directory. */
export class Server {
  /** `clock: 'wall'` runs the game clock in real time (the energy rain is played live). */
  constructor(dataDir, { clock = 'manual' } = {}) {
    this.dataDir = dataDir;
    this.clock = clock;
    this.child = null;
    this.log = [];
    this.gameAddr = null;
    this.opsAddr = null;
  }

  /**
   * Starts the server; `sameAddresses` reuses the ports of the previous run (the pages
   * reconnect to those). Another process may hold such a port for a moment (it came
   * from the ephemeral range): then it retries until PATIENCE_MS is spent.
   */
  async start({ sameAddresses = false } = {}) {
    const deadline = Date.now() + PATIENCE_MS;
    for (;;) {
      try {
        return await this.startOnce({ sameAddresses });
      } catch (error) {
        const inUse = /in use/i.test(String(error.message));
        if (!sameAddresses || !inUse || Date.now() > deadline) throw error;
        await new Promise((resolveWait) => setTimeout(resolveWait, 500));
      }
    }
  }

  async startOnce({ sameAddresses }) {
    const listen = sameAddresses ? this.gameAddr : '127.0.0.1:0';
    const opsListen = sameAddresses ? this.opsAddr : '127.0.0.1:0';
    const clock = this.clock === 'manual' ? ['--clock', 'manual', '--clock-start', String(START)] : [];
    const args = ['--listen', listen, '--ops-listen', opsListen, '--data-dir', this.dataDir, ...clock];
    const child = spawn(SERVER_BIN, args, {
      // The tests register many players from loopback: no per-address limit on `register`.
      env: {
        ...process.env, CANOPY_ADMIN_TOKEN: ADMIN_TOKEN, NO_COLOR: '1', CANOPY_LOG: 'info',
        CANOPY_ACCOUNTS__REGISTER_LIMITS: 'false',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    const exited = new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
    this.exited = exited;
    const running = new Promise((resolveRun, rejectRun) => {
      let buffered = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk) => {
        buffered += chunk;
        let newline;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).replace(/\x1b\[[0-9;]*m/g, '');
          buffered = buffered.slice(newline + 1);
          this.log.push(line);
          if (this.log.length > 400) this.log.shift();
          const m = line.match(/canopy-server running game_addr=(\S+) ops_addr=(\S+)/);
          if (m) resolveRun({ game: m[1], ops: m[2] });
        }
      });
      child.once('error', rejectRun);
      // 'close', not 'exit': by then the whole log is in (a bind error included).
      child.once('close', (code, signal) =>
        rejectRun(new Error(`canopy-server exited early (${code ?? signal}):\n${this.log.join('\n')}`)));
    });
    const addrs = await withTimeout(running, PATIENCE_MS, 'canopy-server did not report its addresses')
      .catch((error) => {
        child.kill('SIGKILL');
        throw error;
      });
    this.gameAddr = addrs.game;
    this.opsAddr = addrs.ops;
  }

  /** SIGTERM, then wait for the clean exit (SIGKILL after PATIENCE_MS). */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), PATIENCE_MS);
    await this.exited;
    clearTimeout(killer);
  }

  get pageUrl() {
    return `http://${this.opsAddr}/?ws=${encodeURIComponent(`ws://${this.gameAddr}/ws`)}`;
  }

  /** A GET on the ops port with the admin token; the parsed JSON answer. */
  async adminGet(path) {
    const response = await fetch(`http://${this.opsAddr}${path}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const text = await response.text();
    assert.equal(response.status, 200, `GET ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text);
  }

  async admin(path, body) {
    const response = await fetch(`http://${this.opsAddr}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    assert.equal(response.status, 200, `POST ${path} answered ${response.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }
}

/** A fresh scratch directory for one scenario (and the artifacts directory, made once). */
export async function scratchDir(scenario) {
  await mkdir(ARTIFACTS, { recursive: true });
  return mkdtemp(join(tmpdir(), `canopy-web-${scenario}-`));
}

/**
 * The `step` of a scenario: a subtest of `t` that runs in order, skipped once an
 * earlier step failed rather than timing out on a page left in the wrong state;
 * `step.failed` tells the scenario's clean-up to keep screenshots and logs.
 */
export function orderedSteps(t) {
  const step = (name, fn) =>
    t.test(name, { skip: step.failed && 'an earlier step failed' }, async () => {
      try {
        await fn();
      } catch (error) {
        step.failed = true;
        throw error;
      }
    });
  step.failed = false;
  return step;
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One player's browser: its own Chromium with a fresh profile directory. */
export class Player {
  constructor(name) {
    this.name = name;
    this.context = null;
    this.page = null;
    this.id = null;
    this.errors = [];
  }

  async launch(profileRoot) {
    const profile = await mkdtemp(join(profileRoot, `${this.name}-`));
    this.context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      // Playwright passes --user-data-dir=<profile> itself (a fresh directory here).
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 820 },
      // The page honours reduced motion: bobbing balls hold still, so clicks and
      // screenshots are deterministic.
      reducedMotion: 'reduce',
      deviceScaleFactor: 1,
    });
    // Every toast the page shows, kept after it fades or is pushed out by newer ones: on
    // a loaded machine a step may look for a toast after its few seconds on screen.
    await this.context.addInitScript(() => {
      window.__toastsSeen = [];
      new MutationObserver((mutations) => {
        for (const mutation of mutations) {
          for (const node of mutation.addedNodes) {
            if (node.nodeType === 1 && node.classList.contains('toast')) {
              window.__toastsSeen.push(node.innerText.replace(/\s+/g, ' ').trim());
            }
          }
        }
      }).observe(document, { childList: true, subtree: true });
    });
    this.page = this.context.pages()[0] ?? (await this.context.newPage());
    this.page.setDefaultTimeout(PATIENCE_MS);
    this.page.on('pageerror', (error) => this.errors.push(`page error: ${error.message}`));
    this.page.on('console', (message) => {
      if (message.type() === 'error') this.errors.push(`console error: ${message.text()}`);
    });
  }

  /** Opens the page and registers `this.name`; returns the new player id. */
  async register(pageUrl) {
    await this.page.goto(pageUrl);
    await this.page.locator('#register-name').fill(this.name);
    await this.page.click('#register-form button[type=submit]');
    await this.page.waitForFunction(
      (name) => !document.getElementById('me-chip').hidden && document.getElementById('me-name').textContent === name,
      this.name,
    );
    this.id = Number((await this.page.locator('#me-id').innerText()).replace('#', ''));
    return this.id;
  }

  /**
   * Waits until the page has shown a toast whose text matches the RegExp `pattern`
   * (whether or not it is still on screen); returns its text.
   */
  async toast(pattern) {
    const shown = await this.page.waitForFunction(
      ([source, flags]) => {
        const wanted = new RegExp(source, flags);
        return (window.__toastsSeen ?? []).find((text) => wanted.test(text)) ?? false;
      },
      [pattern.source, pattern.flags],
    );
    return shown.jsonValue();
  }

  async balance() {
    return Number(await this.page.locator('#energy').getAttribute('data-grams'));
  }

  async waitForBalance(grams) {
    await this.page.waitForFunction(
      (want) => document.getElementById('energy')?.dataset.grams === String(want),
      grams,
    );
  }

  async tab(name) {
    await this.page.click(`[data-tab=${name}]`);
    await this.page.locator(`#view-${name}`).waitFor();
  }

  /** What the page shows, for a failure report. */
  async diagnose() {
    if (!this.page) return `${this.name}: no page`;
    const seen = await this.page
      .evaluate(() => ({
        url: location.href,
        connection: document.getElementById('conn')?.dataset.state,
        view: window.canopy?.state.view,
        energy: document.getElementById('energy')?.dataset.grams,
        toasts: [...document.querySelectorAll('#toasts .toast')].map((t) => t.innerText.replace(/\s+/g, ' ')),
        toastsSeen: window.__toastsSeen,
        banner: document.getElementById('banner')?.hidden ? null : document.getElementById('banner')?.innerText,
      }))
      .catch((error) => ({ unreadable: String(error) }));
    return `${this.name} (#${this.id}): ${JSON.stringify(seen)}${this.errors.length ? `\n  ${this.errors.join('\n  ')}` : ''}`;
  }

  async screenshot(file) {
    await this.page.screenshot({ path: join(ARTIFACTS, file) });
  }
}

