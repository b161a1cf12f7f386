// End-to-end test of reviving energy and protected areas in the browser client: alice's
// ball expires unpicked, bob visits her forest and revives it with the page's button,
// alice gets it back ripe and collects it, then protects square metres of an area from
// the Plant view; the pages, the balances and the conservation audit all agree.
//
// Needs target/debug/canopy-server and Debian's chromium; run.sh beside this file does both.

import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, HOUR, METRO_GRAMS, orderedSteps, Player, scratchDir, Server } from './harness.mjs';

test('a friend revives expired energy; its owner protects an area with it', async (t) => {
  const scratch = await scratchDir('props');
  const server = new Server(join(scratch, 'data'));
  const alice = new Player('alice');
  const bob = new Player('bob');
  const step = orderedSteps(t);
  try {
    await server.start();
    await Promise.all([alice.launch(scratch), bob.launch(scratch)]);
    let expiredId;

    await step('alice and bob register and become friends', async () => {
      for (const player of [alice, bob]) assert.ok((await player.register(server.pageUrl)) > 0);
      await bob.tab('friends');
      await bob.page.locator('#friend-id').fill(String(alice.id));
      await bob.page.click('#add-friend button[type=submit]');
      await alice.toast(/bob .* wants to be friends/);
      await alice.tab('friends');
      await alice.page.click(`.request[data-player-id="${bob.id}"] [data-action=accept]`);
      await bob.page.locator(`#friends .friend[data-player-id="${alice.id}"]`).waitFor();
      await alice.tab('forest');
    });

    await step("alice's ball ripens and expires unpicked", async () => {
      const reply = await server.admin('/admin/actions', {
        player_id: alice.id, kind: 'metro', quantity: 1, ref: 'web-props-metro-1',
      });
      expiredId = reply.ball.ball_id;
      await alice.page.locator(`#my-balls .ball[data-ball-id="${expiredId}"]`).waitFor();
      // Ripe 31 h after 00:00, gone 72 h later.
      await server.admin('/admin/clock/advance', { ms: (31 + 72) * HOUR });
      await alice.page.locator(`#my-balls .ball[data-ball-id="${expiredId}"]`).waitFor({ state: 'detached' });
    });

    await step("bob sees the expired energy in alice's forest and revives it", async () => {
      await bob.page.click(`#friends .friend[data-player-id="${alice.id}"]`);
      await bob.page.locator('#visit-title', { hasText: "alice's forest" }).waitFor();
      const button = bob.page.locator(`#revive-buttons [data-action=revive][data-ball-id="${expiredId}"]`);
      await button.waitFor();
      assert.equal(await button.innerText(), `Revive ${METRO_GRAMS} g`);
      await button.click();
      await bob.toast(new RegExp(`You revived ${METRO_GRAMS} g for alice: vitality 5`));
      await bob.page.locator('#revive-card').waitFor({ state: 'hidden' });
    });

    await step('alice hears of it, gets the energy back ripe and collects it', async () => {
      await alice.toast(new RegExp(`bob revived ${METRO_GRAMS} g of your expired energy`));
      await alice.page.locator('#my-balls .ball.ripe').waitFor();
      // "Collect all" rather than the ball itself, which a late refresh may redraw under
      // the click; a second collect_all after the first only finds nothing.
      for (let attempt = 0; attempt < 5; attempt += 1) {
        await alice.page.click('#collect-all');
        const collected = await alice.page
          .waitForFunction((grams) => document.getElementById('energy')?.dataset.grams === String(grams), METRO_GRAMS, { timeout: 20_000 })
          .then(() => true, () => false);
        if (collected) break;
      }
      await alice.waitForBalance(METRO_GRAMS);
    });

    await step('alice protects 2 m² of the Qilian Mountains from the Plant view', async () => {
      await alice.tab('plant');
      const area = alice.page.locator('#areas .area-item[data-area=qilian_mountains]');
      await area.waitFor();
      await alice.page.locator('#holdings', { hasText: '0 trees planted · 0 m² protected' }).waitFor();
      await area.locator('input.area-m2').fill('2');
      // Two steps: the first click arms the button ("Spend 24 g?"), the second buys. A
      // render in between (a late refresh) rebuilds the button unarmed: arm it again.
      const protect = area.locator('.protect-btn');
      const bought = () =>
        alice.page.waitForFunction(() => (window.__toastsSeen ?? []).some((text) => /You protected/.test(text)), null, {
          timeout: 30_000,
        });
      for (let attempt = 0; attempt < 6; attempt += 1) {
        const armed = (await protect.innerText()) === 'Spend 24 g?';
        await protect.click();
        if (armed && (await bought().then(() => true, () => false))) break;
      }
      await alice.toast(/You protected 2 m² of Qilian Mountains!/);
      await alice.toast(/2 m² of qilian mountains protected in Gansu/);
      await alice.waitForBalance(METRO_GRAMS - 24);
      await alice.page.locator('#holdings', { hasText: '0 trees planted · 2 m² protected' }).waitFor();
      await alice.page.locator('#certificates .cert', { hasText: '2 m² protected in Gansu' }).waitFor();
      await alice.screenshot('alice-protected-area.png');
    });

    await step('the audit balances, with the revival in it', async () => {
      const audit = await server.adminGet('/admin/audit');
      assert.equal(audit.balanced, true, JSON.stringify(audit.problems));
      assert.equal(audit.revived, METRO_GRAMS);
      assert.equal(audit.planted, 24);
    });

    await step('no page errors', async () => {
      assert.deepEqual([...alice.errors, ...bob.errors], []);
    });
  } finally {
    if (step.failed) {
      for (const player of [alice, bob]) {
        await player.page?.screenshot({ path: join(ARTIFACTS, `failure-props-${player.name}.png`) }).catch(() => {});
        console.error(await player.diagnose());
      }
      console.error(`server log (last lines):\n${server.log.slice(-40).join('\n')}`);
    }
    await Promise.all([alice.context?.close(), bob.context?.close()].map((p) => p?.catch(() => {})));
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
});
