// End-to-end test of the browser client (assets/web/): a real canopy-server with a
// manual clock serves the page; two headless Chromium sessions register, become friends,
// one gets a ripe ball (a partner action, then the clock moves 31 h), the other steals
// from it, and each page must show the right balance and the event. Then the server
// restarts and both pages must reconnect and log back in on their own.
//
// Needs target/debug/canopy-server (`cargo build -p canopy-server`) and Debian's
// chromium; run.sh beside this file does both. Screenshots go to target/web-e2e/.

import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, HOUR, METRO_GRAMS, orderedSteps, Player, scratchDir, Server, START } from './harness.mjs';

test('two browser players befriend, one steals the other\'s ripe energy, both reconnect', async (t) => {
  const scratch = await scratchDir('e2e');
  const server = new Server(join(scratch, 'data'));
  const alice = new Player('alice');
  const bob = new Player('bob');
  const step = orderedSteps(t);
  try {
    await server.start();
    await Promise.all([alice.launch(scratch), bob.launch(scratch)]);
    let ballId;
    let stolen;

    await step('the ops port serves the page and its files with their content types', async () => {
      const base = `http://${server.opsAddr}`;
      for (const [path, type] of [
        ['/', 'text/html'],
        ['/web/app.css', 'text/css'],
        ['/web/app.js', 'text/javascript'],
        ['/web/net.js', 'text/javascript'],
        ['/web/favicon.svg', 'image/svg+xml'],
      ]) {
        const response = await fetch(base + path);
        assert.equal(response.status, 200, path);
        assert.ok(response.headers.get('content-type').startsWith(type), `${path}: ${response.headers.get('content-type')}`);
        await response.arrayBuffer();
      }
      assert.equal((await fetch(`${base}/web/missing.js`)).status, 404);
    });

    await step('both players register; the token is kept in localStorage', async () => {
      for (const player of [alice, bob]) {
        assert.ok((await player.register(server.pageUrl)) > 0);
        await player.page.locator('#conn[data-state=online]').waitFor();
        const stored = await player.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('canopy.token:')));
        assert.equal(stored.length, 1);
        assert.equal(await player.balance(), 0);
        assert.equal(await player.page.locator('#my-tree').getAttribute('data-stage'), 'seed');
      }
      assert.notEqual(alice.id, bob.id);
    });

    await step('bob adds alice by id; alice accepts the live request', async () => {
      await bob.tab('friends');
      await bob.page.locator('#friend-id').fill(String(alice.id));
      await bob.page.click('#add-friend button[type=submit]');
      await bob.toast(/Friend request sent/);
      await alice.toast(/bob .* wants to be friends/);
      await alice.tab('friends');
      await alice.page.click(`.request[data-player-id="${bob.id}"] [data-action=accept]`);
      await alice.page.locator(`#friends .friend[data-player-id="${bob.id}"]`).waitFor();
      await bob.page.locator(`#friends .friend[data-player-id="${alice.id}"]`).waitFor();
      await alice.toast(/You and bob are now friends/);
      await bob.toast(/You and alice are now friends/);
    });

    await step('a partner action gives alice an unripe ball with a live countdown', async () => {
      await alice.tab('forest');
      const reply = await server.admin('/admin/actions', {
        player_id: alice.id, kind: 'metro', quantity: 1, ref: 'web-e2e-metro-1',
      });
      assert.equal(reply.grams, METRO_GRAMS);
      ballId = reply.ball.ball_id;
      const ball = alice.page.locator(`#my-balls .ball.unripe[data-ball-id="${ballId}"]`);
      await ball.waitFor();
      await alice.toast(/New energy growing: 52 g from Metro ride/);
      // Made at 00:00, ripe the next morning at 07:00: 31 h on the game clock.
      const countdown = alice.page.locator('#my-balls .countdown').first();
      await alice.page.waitForFunction(() => /^3[01]h \d\dm$/.test(document.querySelector('#my-balls .countdown')?.textContent ?? ''));
      assert.match(await countdown.innerText(), /^(31h 00m|30h 59m)$/);
    });

    await step('the clock moves 31 h: alice sees the ball ripe, bob sees the hand icon', async () => {
      const moved = await server.admin('/admin/clock/advance', { ms: 31 * HOUR });
      assert.equal(moved.time, START + 31 * HOUR);
      await alice.page.locator(`#my-balls .ball.ripe[data-ball-id="${ballId}"]`).waitFor();
      await alice.toast(/52 g of energy is ripe/);
      const hand = bob.page.locator(`#friends .friend[data-player-id="${alice.id}"] .hand.can`);
      await hand.waitFor();
      assert.ok(Number(await hand.getAttribute('data-stealable')) > 0);
      await bob.toast(/alice has \d+ g ripe for the taking/);
    });

    await step('bob visits alice and steals from the ball', async () => {
      await bob.page.click(`#friends .friend[data-player-id="${alice.id}"]`);
      await bob.page.locator('#visit-title', { hasText: "alice's forest" }).waitFor();
      const ball = bob.page.locator(`#visit-balls .ball.ripe[data-ball-id="${ballId}"]`);
      await ball.waitFor();
      await ball.click();
      const text = await bob.toast(/You took \d+ g from alice/);
      stolen = Number(text.match(/You took (\d+) g/)[1]);
      // 10–30 % of 52 g, rounded down.
      assert.ok(stolen >= 5 && stolen <= 15, `stole ${stolen} g`);
      await bob.waitForBalance(stolen);
      assert.equal(await bob.page.locator('#energy').innerText(), `${stolen} g`);
    });

    await step('alice gets the theft live; her ball shrank by what bob took', async () => {
      await alice.toast(new RegExp(`bob stole ${stolen} g from you`));
      await alice.page.waitForFunction(
        ([id, left]) => document.querySelector(`#my-balls .ball[data-ball-id="${id}"]`)?.dataset.amount === String(left),
        [ballId, METRO_GRAMS - stolen],
      );
      assert.equal(await alice.balance(), 0);
    });

    await step('a second steal from the same ball shows a human error message', async () => {
      const ball = bob.page.locator(`#visit-balls .ball[data-ball-id="${ballId}"]`);
      await ball.waitFor();
      await bob.page.waitForFunction((id) => !document.querySelector(`#visit-balls .ball[data-ball-id="${id}"]`)?.disabled, ballId);
      await ball.click();
      const text = await bob.toast(/already taken your share/);
      assert.ok(!text.includes('ALREADY_STOLEN'), text);
      await bob.screenshot('bob-visits-alice.png');
    });

    await step('alice collects the rest; both balances are right, live in bob\'s visit too', async () => {
      await alice.page.click(`#my-balls .ball.ripe[data-ball-id="${ballId}"]`);
      await alice.waitForBalance(METRO_GRAMS - stolen);
      await alice.page.locator('#stat-energy', { hasText: `${METRO_GRAMS - stolen} g` }).waitFor();
      await alice.page.locator(`#my-balls .ball[data-ball-id="${ballId}"]`).waitFor({ state: 'detached' });
      // Bob still visits alice: the page watches her forest, so the ball leaves his view live.
      await bob.page.locator(`#visit-balls .ball[data-ball-id="${ballId}"]`).waitFor({ state: 'detached' });
      assert.equal(await bob.balance(), stolen);
    });

    await step('the feed and the boards tell the story', async () => {
      await alice.tab('feed');
      await alice.page.locator('#feed .feed-entry', { hasText: `bob stole ${stolen} g from you` }).waitFor();
      await alice.page.locator('#live li', { hasText: `bob stole ${stolen} g from you!` }).waitFor();
      await bob.tab('boards');
      const rows = bob.page.locator('#board .board-entry');
      await rows.nth(1).waitFor();
      assert.match(await rows.nth(0).innerText(), new RegExp(`alice[\\s\\S]*${METRO_GRAMS - stolen} g`));
      assert.match(await rows.nth(1).innerText(), new RegExp(`bob \\(you\\)[\\s\\S]*${stolen} g`));
      await alice.tab('forest');
      await alice.screenshot('alice-forest.png');
    });

    await step('after a server restart both pages reconnect and log back in', async () => {
      await server.stop();
      for (const player of [alice, bob]) {
        await player.page.locator('#conn[data-state=waiting], #conn[data-state=connecting]').waitFor();
      }
      await server.start({ sameAddresses: true });
      for (const player of [alice, bob]) {
        // The default timeout: the page retries on a backoff of up to 10 s.
        await player.page.locator('#conn[data-state=online]').waitFor();
        await player.toast(/Reconnected/);
        await player.page.locator('#banner').waitFor({ state: 'hidden' });
      }
      await alice.waitForBalance(METRO_GRAMS - stolen);
      await bob.waitForBalance(stolen);
      assert.equal(await alice.page.locator('#me-name').innerText(), 'alice');
      assert.equal(await bob.page.locator('#me-name').innerText(), 'bob');
    });

    await step('no page errors', async () => {
      assert.deepEqual([...alice.errors, ...bob.errors], []);
    });
  } finally {
    if (step.failed) {
      for (const player of [alice, bob]) {
        await player.page?.screenshot({ path: join(ARTIFACTS, `failure-${player.name}.png`) }).catch(() => {});
        console.error(await player.diagnose());
      }
      console.error(`server log (last lines):\n${server.log.slice(-40).join('\n')}`);
    }
    await Promise.all([alice.context?.close(), bob.context?.close()].map((p) => p?.catch(() => {})));
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
});
