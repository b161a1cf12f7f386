// The browser client in cluster mode: bench/cluster/run.sh starts 3 NATS nodes and two
// shards (nats-server from bench/cluster/install-nats.sh, as .ci/run installs it). A
// player registered on shard 1 opens the page of shard 0 and logs in with the token:
// shard 0 answers WRONG_SHARD with shard 1's socket, and the page must reconnect there
// and log in, from the login form and again, with the saved token, after a reload.
// Then the operators' review page (/review) of shard 0 lists the risk flags of both
// shards and reviews each, the other shard's through shard 0's forwarding.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ADMIN_TOKEN, ARTIFACTS, PATIENCE_MS, Player, ROOT, SERVER_BIN, withTimeout } from './harness.mjs';

/** A local cluster of `shards` shards on ports from `base` (see run.sh's header). */
class LocalCluster {
  constructor(dir, shards, base) {
    this.dir = dir;
    this.shards = shards;
    this.base = base;
    this.script = null;
  }

  gameUrl(shard) {
    return `ws://127.0.0.1:${this.base + 100 + 2 * shard}/ws`;
  }

  opsUrl(shard) {
    return `http://127.0.0.1:${this.base + 101 + 2 * shard}`;
  }

  pageUrl(shard) {
    return `http://127.0.0.1:${this.base + 101 + 2 * shard}/?ws=${encodeURIComponent(this.gameUrl(shard))}`;
  }

  async start() {
    this.script = spawn('bash', [join(ROOT, 'bench/cluster/run.sh'), '--dir', this.dir,
      '--shards', String(this.shards), '--base-port', String(this.base), '--server', SERVER_BIN], {
      env: { ...process.env, CANOPY_ADMIN_TOKEN: ADMIN_TOKEN },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    this.exited = new Promise((resolveExit) => this.script.once('exit', resolveExit));
    const ready = (async () => {
      while (!existsSync(join(this.dir, 'ready'))) {
        if (this.script.exitCode !== null) throw new Error(`run.sh exited: ${await this.logs()}`);
        await new Promise((resolveWait) => setTimeout(resolveWait, 100));
      }
    })();
    await withTimeout(ready, 2 * PATIENCE_MS, 'the cluster was not ready');
  }

  async logs() {
    const logs = [];
    for (const name of ['shard-0', 'shard-1', 'nats-1']) {
      const text = await readFile(join(this.dir, `${name}.log`), 'utf8').catch(() => '');
      logs.push(`== ${name}\n${text.split('\n').slice(-15).join('\n')}`);
    }
    return logs.join('\n');
  }

  async stop() {
    if (!this.script || this.script.exitCode !== null) return;
    this.script.kill('SIGTERM');
    await withTimeout(this.exited, PATIENCE_MS, 'run.sh did not stop');
  }
}

test('a login at the wrong shard follows the redirect to the player\'s shard', async (t) => {
  await mkdir(ARTIFACTS, { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'canopy-web-cluster-'));
  // Below the ephemeral port range and apart from tests/cluster.rs's ports.
  const cluster = new LocalCluster(join(scratch, 'cluster'), 2, 15_000 + (process.pid % 40) * 130);
  const home = new Player('mei');
  const away = new Player('mei-away');
  const reviewer = new Player('rev');
  try {
    await cluster.start();
    await Promise.all([home.launch(scratch), away.launch(scratch), reviewer.launch(scratch)]);

    const id = await home.register(cluster.pageUrl(1));
    assert.equal(id % 2, 0, `shard 1 of 2 gives even ids, got ${id}`);
    const token = await home.page.evaluate(() => window.canopy.state.token);
    assert.match(token, new RegExp(`^${id}\\.`));

    await t.test('from the login form', async () => {
      await away.page.goto(cluster.pageUrl(0));
      await away.page.click('details.login-token summary');
      await away.page.locator('#login-token').fill(token);
      await away.page.click('#login-form button[type=submit]');
      await away.page.waitForFunction(
        (want) => !document.getElementById('me-chip').hidden && document.getElementById('me-id').textContent === `#${want}`,
        id,
      );
      assert.equal(await away.page.locator('#me-name').innerText(), 'mei');
      await away.page.locator('#conn[data-state=online]').waitFor();
    });

    await t.test('with the saved token after a reload', async () => {
      await away.page.reload();
      await away.page.waitForFunction(
        (want) => !document.getElementById('me-chip').hidden && document.getElementById('me-id').textContent === `#${want}`,
        id,
      );
      assert.equal(await away.page.evaluate(() => window.canopy.state.token), token);
      await away.screenshot('cluster-redirected.png');
    });
    await t.test('the review page lists and reviews every shard\'s flags', async () => {
      const near = await reviewer.register(cluster.pageUrl(0));
      assert.equal(near % 2, 1, `shard 0 of 2 gives odd ids, got ${near}`);
      // A partner's rides past the daily metro cap of 5, on each player's shard: denied,
      // and flagged there (partner_velocity).
      for (const [shard, player] of [[0, near], [1, id]]) {
        for (let n = 0; n < 6; n += 1) {
          const ride = await fetch(`${cluster.opsUrl(shard)}/admin/actions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ player_id: player, kind: 'metro', quantity: 1, ref: `ride-${n}` }),
          });
          assert.equal(ride.status, n < 5 ? 200 : 422, await ride.text());
        }
      }
      const page = reviewer.page;
      await page.goto(`${cluster.opsUrl(0)}/review`);
      await page.locator('#token').fill(ADMIN_TOKEN);
      await page.click('#token-form button[type=submit]');
      const flagOf = (player) => page.locator(`tr.flag[data-rule=partner_velocity][data-player="${player}"]`);
      await flagOf(id).waitFor();
      await flagOf(near).waitFor();
      await page.locator('#count', { hasText: '2 flags' }).waitFor();
      await reviewer.screenshot('review-cluster.png');

      await page.uncheck('#cluster');
      await page.click('#filter-form button[type=submit]');
      await page.locator('#count', { hasText: '1 flag' }).waitFor();
      await flagOf(near).waitFor();
      await page.check('#cluster');
      await page.click('#filter-form button[type=submit]');
      await page.locator('#count', { hasText: '2 flags' }).waitFor();

      await flagOf(id).locator('button[data-action=confirm]').click();
      await page.locator('#count', { hasText: '1 flag' }).waitFor();
      await flagOf(near).locator('button[data-action=release]').click();
      await page.locator('#count', { hasText: '0 flags' }).waitFor();
      await page.selectOption('#status', 'all');
      await page.click('#filter-form button[type=submit]');
      await page.locator(`tr.flag[data-player="${id}"][data-status=confirmed]`).waitFor();
      await page.locator(`tr.flag[data-player="${near}"][data-status=released]`).waitFor();
      const onOne = await fetch(`${cluster.opsUrl(1)}/admin/risk/flags?status=confirmed`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const confirmed = (await onOne.json()).flags.map((flag) => flag.player_id);
      assert.deepEqual(confirmed, [id], 'confirmed on the flag\'s own shard');
    });
    assert.deepEqual([...away.errors, ...reviewer.errors], []);
  } catch (error) {
    throw new Error(`${error.message}\n${await away.diagnose()}\n${await cluster.logs()}`, { cause: error });
  } finally {
    await Promise.allSettled([home.context?.close(), away.context?.close(), reviewer.context?.close()]);
    await cluster.stop();
    await rm(scratch, { recursive: true, force: true });
  }
});
