// End-to-end test of the energy rain in the browser: a headless Chromium player starts a
// round on a wall-clock server and taps falling balls as the page draws them — every
// even-numbered ball while it falls, the odd ones never, and one odd ball after it
// landed (the server refuses it as OFF_SCREEN). When the server settles the round, the
// page shows what it credited, and the balance and the audit agree with the balls the
// page caught.
//
// Needs target/debug/canopy-server and Debian's chromium; run.sh beside this file does both.

import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, orderedSteps, Player, scratchDir, Server } from './harness.mjs';

test('a browser player plays the energy rain; the server credits exactly the balls caught', async (t) => {
  const scratch = await scratchDir('rain');
  const server = new Server(join(scratch, 'data'), { clock: 'wall' });
  const dora = new Player('dora');
  const step = orderedSteps(t);
  try {
    await server.start();
    await dora.launch(scratch);
    let played;
    let credited;

    await step('the forest offers one round today; starting it shows the falling field', async () => {
      assert.ok((await dora.register(server.pageUrl)) > 0);
      await dora.page.waitForFunction(() => /1 round left today/.test(document.getElementById('rain-status').textContent));
      await dora.page.click('#rain-start');
      await dora.page.locator('#rain').waitFor();
      assert.equal(await dora.page.locator('#rain-field .rain-ball').count(), 30);
      await dora.page.waitForFunction(() => /\d+ s$/.test(document.getElementById('rain-countdown').textContent));
      await dora.screenshot('dora-rain.png');
    });

    await step('dora taps the even balls as they fall and one odd ball after it landed', async () => {
      played = await dora.page.evaluate(async () => {
        const field = document.getElementById('rain-field');
        const tapped = new Set();
        const seen = new Set();
        let late = null;
        const tap = (el) => el.dispatchEvent(new PointerEvent('pointerdown', { bubbles: true, cancelable: true }));
        // Till the round is over on the page's clock; the deadline only guards a hang.
        const deadline = Date.now() + 40_000;
        while (Date.now() < deadline && document.getElementById('rain-countdown').textContent !== 'Time!') {
          for (const el of field.querySelectorAll('.rain-ball')) {
            const ball = Number(el.dataset.ball);
            if (!el.hidden) seen.add(ball);
            if (!el.hidden && ball % 2 === 0 && !tapped.has(ball)) {
              tapped.add(ball);
              tap(el);
            } else if (el.hidden && ball % 2 === 1 && seen.has(ball) && late === null) {
              late = ball;
              tap(el);
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return { tapped: [...tapped], late };
      });
      assert.ok(played.tapped.length > 0, 'some balls were tapped');
      assert.notEqual(played.late, null, 'an odd ball landed untouched');
      await dora.page.waitForFunction(
        (ball) => document.querySelector(`#rain-field .rain-ball[data-ball="${ball}"]`)?.dataset.refused === 'OFF_SCREEN',
        played.late,
      );
    });

    await step('the round ends on the server: the page shows the grams it credited', async () => {
      const text = await dora.toast(/Energy rain: \d+ balls, \+[\d,]+ g/);
      // The result stays on screen for a moment only; its figure stays in the page.
      await dora.page.waitForFunction(() => document.getElementById('rain-result').dataset.grams !== undefined);
      credited = Number(await dora.page.locator('#rain-result').getAttribute('data-grams'));
      const caught = await dora.page.locator('#rain-caught').evaluate((el) => ({
        grams: Number(el.dataset.grams), balls: Number(el.dataset.balls),
      }));
      assert.equal(credited, caught.grams, `the server credited what the page caught (${text})`);
      assert.ok(caught.balls > 0 && caught.balls < 30, `some caught, some missed: ${caught.balls}`);
      const caughtOdd = await dora.page.locator('#rain-field .rain-ball.caught').evaluateAll(
        (els) => els.filter((el) => Number(el.dataset.ball) % 2 === 1).length,
      );
      assert.equal(caughtOdd, 0, 'no ball the player left alone was credited');
    });

    await step('the balance and the audit agree with the round', async () => {
      await dora.waitForBalance(credited);
      const audit = await server.adminGet('/admin/audit');
      assert.deepEqual(audit.problems, []);
      assert.equal(audit.balanced, true);
      assert.equal(audit.rained, credited);
      assert.equal(audit.rain_rounds, 1);
      await dora.page.waitForFunction(() => /0 rounds left today/.test(document.getElementById('rain-status').textContent));
      assert.equal(await dora.page.locator('#rain-start').isDisabled(), true);
    });

    await step('no page errors', async () => {
      assert.deepEqual(dora.errors, []);
    });
  } finally {
    if (step.failed) {
      await dora.page?.screenshot({ path: join(ARTIFACTS, 'failure-dora-rain.png') }).catch(() => {});
      console.error(await dora.diagnose());
      console.error(`server log (last lines):\n${server.log.slice(-40).join('\n')}`);
    }
    await dora.context?.close().catch(() => {});
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
});
