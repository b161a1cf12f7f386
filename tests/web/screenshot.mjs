// Makes the README's screenshot of the browser client (docs/web-client.png) from a real
// game: a canopy-server with a manual clock, a week of green actions for alice (partner
// calls, collected through the page), friends who steal and water through their pages.
//
//   node screenshot.mjs [OUT.png]     (default: ../../docs/web-client.png)
//
// Needs what the end-to-end test needs (run.sh installs it).

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ARTIFACTS, HOUR, Player, ROOT, Server } from './harness.mjs';

const out = resolve(process.argv[2] ?? join(ROOT, 'docs', 'web-client.png'));
const DAY = 24 * HOUR;
const MONTHLY = { utility_bill: 10, online_ticket: 10, train_ticket: 10, hospital_booking: 5 };
const DAILY = { metro: 5, bus: 5, offline_payment: 10, e_invoice: 5, etc_toll: 5 };

const scratch = await mkdtemp(join(tmpdir(), 'canopy-web-shot-'));
const server = new Server(join(scratch, 'data'));
const alice = new Player('alice');
const friends = [new Player('bob'), new Player('mei'), new Player('ravi')];
let refs = 0;

async function actions(playerId, counts) {
  for (const [kind, times] of Object.entries(counts)) {
    for (let i = 0; i < times; i += 1) {
      await server.admin('/admin/actions', { player_id: playerId, kind, quantity: 1, ref: `shot-${(refs += 1)}` });
    }
  }
}

async function advance(ms) {
  await server.admin('/admin/clock/advance', { ms });
}

async function collectAll(player) {
  await player.tab('forest');
  const button = player.page.locator('#collect-all');
  await player.page.waitForFunction(() => !document.getElementById('collect-all').disabled);
  await button.click();
  await player.toast(/Collected \d/);
}

async function dismissToasts(player) {
  await player.page.evaluate(() => document.getElementById('toasts').replaceChildren());
}

try {
  await mkdir(ARTIFACTS, { recursive: true });
  await server.start();
  await Promise.all([alice, ...friends].map((p) => p.launch(scratch)));
  for (const player of [alice, ...friends]) await player.register(server.pageUrl);

  // Friends: each asks alice; she accepts in her Friends tab.
  for (const friend of friends) {
    await friend.tab('friends');
    await friend.page.locator('#friend-id').fill(String(alice.id));
    await friend.page.click('#add-friend button[type=submit]');
    await friend.toast(/Friend request sent/);
  }
  await alice.tab('friends');
  for (const friend of friends) {
    await alice.page.click(`.request[data-player-id="${friend.id}"] [data-action=accept]`);
    await alice.page.locator(`#friends .friend[data-player-id="${friend.id}"]`).waitFor();
  }

  // A week of green actions, 25 Nov to 1 Dec, collected each morning at 08:00.
  await advance(8 * HOUR);
  for (let day = 0; day <= 6; day += 1) {
    await actions(alice.id, day === 0 || day === 6 ? { ...MONTHLY, ...DAILY } : DAILY);
    await advance(DAY);
    await collectAll(alice);
  }

  // Yesterday's rides and a bus for mei (she will water alice with it).
  await actions(alice.id, { metro: 2, bus: 1 });
  await actions(friends[1].id, { bus: 1 });
  await actions(friends[2].id, { metro: 1 });
  await advance(DAY);
  await collectAll(friends[1]);
  // This morning: a toll and some steps, ripe tomorrow.
  await actions(alice.id, { etc_toll: 1 });
  await alice.tab('forest');
  await alice.page.locator('#steps').fill('9650');
  await alice.page.click('#steps-form button[type=submit]');
  await alice.toast(/9,650 steps/);
  await advance(90 * 60 * 1000);

  // bob steals, mei waters; alice watches her forest.
  await alice.tab('forest');
  await dismissToasts(alice);
  const [bob, mei] = friends;
  await bob.tab('friends');
  await bob.page.click(`#friends .friend[data-player-id="${alice.id}"]`);
  const ripe = bob.page.locator('#visit-balls .ball.ripe:not([data-stealable="0"])').first();
  await ripe.click();
  await bob.toast(/You took/);
  await mei.tab('friends');
  await mei.page.click(`#friends .friend[data-player-id="${alice.id}"]`);
  await mei.page.click('#water-buttons [data-grams="33"]');
  await mei.toast(/You watered alice/);
  await alice.toast(/mei watered your tree/);
  await alice.page.locator('#my-balls .ball.water').waitFor();
  await alice.toast(/bob stole/);
  await alice.page.waitForTimeout(300);
  // Keep the two social toasts in the picture.
  await alice.page.evaluate(() => {
    for (const t of document.querySelectorAll('#toasts .toast')) {
      if (!/stole|watered your tree/.test(t.textContent)) t.remove();
    }
  });
  await mkdir(dirname(out), { recursive: true });
  await alice.page.screenshot({ path: out });
  await alice.tab('friends');
  await alice.page.screenshot({ path: join(ARTIFACTS, 'readme-friends.png') });
  await alice.tab('plant');
  await alice.page.screenshot({ path: join(ARTIFACTS, 'readme-plant.png') });
  await alice.tab('feed');
  await alice.page.locator('#feed .feed-entry').first().waitFor();
  await alice.page.screenshot({ path: join(ARTIFACTS, 'readme-feed.png') });
  await alice.tab('boards');
  await alice.page.locator('#board .board-entry').first().waitFor();
  await alice.page.screenshot({ path: join(ARTIFACTS, 'readme-boards.png') });
  await friends[0].page.screenshot({ path: join(ARTIFACTS, 'readme-bob-visit.png') });
  // The sign-in card, on a page without a saved token.
  const fresh = await friends[2].context.newPage();
  await fresh.goto(server.pageUrl);
  await fresh.evaluate(() => localStorage.clear());
  await fresh.reload();
  await fresh.locator('#register-name').waitFor();
  await fresh.screenshot({ path: join(ARTIFACTS, 'readme-login.png') });
  console.log(`wrote ${out}`);
} catch (error) {
  for (const player of [alice, ...friends]) {
    await player.page?.screenshot({ path: join(ARTIFACTS, `readme-failure-${player.name}.png`) }).catch(() => {});
    console.error(await player.diagnose());
  }
  throw error;
} finally {
  await Promise.all([alice, ...friends].map((p) => p.context?.close().catch(() => {})));
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
}
