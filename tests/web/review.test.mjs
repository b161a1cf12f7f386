// End-to-end test of the risk engine in the browser: a real canopy-server (risk engine
// on, its default) holds a player's impossible walk (the player's page shows the held
// grams) and denies a partner replay; the operators' review page (/review) is refused
// with a wrong token, lists both flags with their evidence with the right one, confirms
// one, releases the other, and finds them among the reviewed flags.
//
// Needs target/debug/canopy-server and Debian's chromium; run.sh beside this file does
// both. Screenshots go to target/web-e2e/.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ADMIN_TOKEN, ARTIFACTS, Player, Server } from './harness.mjs';

test('a reviewer lists a flag with its evidence and confirms it in the browser', async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'canopy-web-review-'));
  const server = new Server(join(scratch, 'data'));
  const rider = new Player('rider');
  const reviewer = new Player('reviewer');
  try {
    await server.start();
    await Promise.all([rider.launch(scratch), reviewer.launch(scratch)]);
    const id = await rider.register(server.pageUrl);
    // 5,000 steps at 00:00 sharp, sent on a second connection of the same player: held,
    // and the page hears of it and shows what is held.
    await rider.page.evaluate(async (url) => {
      const ws = new WebSocket(url);
      await new Promise((resolveOpen, rejectOpen) => {
        ws.onopen = resolveOpen;
        ws.onerror = rejectOpen;
      });
      const call = (id, op, fields) => new Promise((resolveReply) => {
        ws.addEventListener('message', function reply(message) {
          const frame = JSON.parse(message.data);
          if (frame.id !== id) return;
          ws.removeEventListener('message', reply);
          resolveReply(frame);
        });
        ws.send(JSON.stringify({ id, op, ...fields }));
      });
      await call(1, 'login', { token: window.canopy.state.token });
      await call(2, 'record_action', { kind: 'walk', quantity: 5000, ref: 'sprint' });
      ws.close();
    }, `ws://${server.gameAddr}/ws`);
    await rider.toast(/held for review/);
    await rider.page.locator('#held', { hasText: '100 g held for review' }).waitFor();
    await rider.screenshot('rider-held.png');
    for (let n = 0; n < 5; n += 1) {
      await server.admin('/admin/actions', { player_id: id, kind: 'metro', quantity: 1, ref: `ride-${n}` });
    }
    const replay = await fetch(`http://${server.opsAddr}/admin/actions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ player_id: id, kind: 'metro', quantity: 1, ref: 'ride-replay' }),
    });
    assert.equal(replay.status, 422);
    assert.equal((await replay.json()).error.code, 'RISK_DENIED');

    const page = reviewer.page;
    await page.goto(`http://${server.opsAddr}/review`);
    await page.locator('#token').fill('not-a-token');
    await page.click('#token-form button[type=submit]');
    await page.locator('#message', { hasText: 'UNAUTHENTICATED' }).waitFor();

    await page.locator('#token').fill(ADMIN_TOKEN);
    await page.click('#token-form button[type=submit]');
    const flag = page.locator('tr.flag[data-rule=partner_velocity]');
    await flag.waitFor();
    assert.match(await flag.innerText(), new RegExp(`#${id}[\\s\\S]*deny`));
    await flag.locator('summary').click();
    assert.match(await flag.locator('dl').innerText(), /cap\s+5/);
    await reviewer.screenshot('review-open.png');

    const held = page.locator('tr.flag[data-rule=steps_rate]');
    assert.match(await held.innerText(), /hold[\s\S]*100 g/);

    await flag.locator('button[data-action=confirm]').click();
    await page.locator('#count', { hasText: '1 flag' }).waitFor();
    await held.locator('button[data-action=release]').click();
    await page.locator('#count', { hasText: '0 flags' }).waitFor();
    await page.selectOption('#status', 'all');
    await page.click('#filter-form button[type=submit]');
    await page.locator('tr.flag[data-rule=partner_velocity][data-status=confirmed]').waitFor();
    await page.locator('tr.flag[data-rule=steps_rate][data-status=released]').waitFor();
    // The browser logs the refused calls of the wrong token; nothing else may fail.
    const unexpected = [...rider.errors, ...reviewer.errors].filter((e) => !/status of 401/.test(e));
    assert.deepEqual(unexpected, []);
  } finally {
    await Promise.all([rider.context?.close(), reviewer.context?.close()].map((p) => p?.catch(() => {})));
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
});
