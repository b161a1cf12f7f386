// End-to-end test of the browser client's Tasks view: ops publish tasks through the admin
// API, a headless Chromium player sees them with their progress, accepts one, meets a
// refusal in words, and gets the reward live when ops confirm the completion; the reward
// ball, the balance and the conservation audit all agree afterwards.
//
// Needs target/debug/canopy-server and Debian's chromium; run.sh beside this file does both.

import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, HOUR, orderedSteps, Player, scratchDir, Server, START } from './harness.mjs';

const REWARD = 120;

/** A NewTask open to everybody for a week from the test's start. */
function newTask(title, fields) {
  return {
    title,
    description: `${title}, checked by the partner`,
    audience: 'all',
    starts_at: START,
    ends_at: START + 7 * 24 * HOUR,
    ...fields,
  };
}

test('a browser player accepts a published task and gets its reward live', async (t) => {
  const scratch = await scratchDir('tasks');
  const server = new Server(join(scratch, 'data'));
  const carol = new Player('carol');
  const step = orderedSteps(t);
  try {
    await server.start();
    await carol.launch(scratch);
    let bike;
    let bottles;
    let reward;
    const row = (task) => carol.page.locator(`#tasks .task[data-task-id="${task.task_id}"]`);

    await step('ops publish two tasks; the page lists both, open, with no progress', async () => {
      assert.ok((await carol.register(server.pageUrl)) > 0);
      bike = await server.admin('/admin/tasks', newTask('Ride a shared bike', {
        reward_grams: REWARD, per_player_limit: 1, budget_grams: 3 * REWARD,
      }));
      bottles = await server.admin('/admin/tasks', newTask('Recycle bottles', {
        reward_grams: 80, per_player_limit: 2, budget_grams: 800,
      }));
      assert.notEqual(bike.task_id, bottles.task_id);
      await carol.tab('tasks');
      for (const [task, limit] of [[bike, 1], [bottles, 2]]) {
        await row(task).locator('[data-action=accept-task]').waitFor();
        assert.equal(await row(task).getAttribute('data-state'), 'open');
        assert.match(await row(task).innerText(), new RegExp(`${task.title}[\\s\\S]*0/${limit} done`));
      }
      assert.match(await row(bike).locator('.task-reward').innerText(), /120 g/);
    });

    await step('carol accepts the bike task; the row says so', async () => {
      await row(bike).locator('[data-action=accept-task]').click();
      await carol.toast(/Task accepted: Ride a shared bike/);
      await carol.page.locator(`#tasks .task[data-task-id="${bike.task_id}"][data-state=accepted]`).waitFor();
      assert.equal(await row(bike).locator('[data-action=accept-task]').count(), 0);
    });

    await step('a task paused after the list was drawn is refused in words and leaves the list', async () => {
      await server.admin(`/admin/tasks/${bottles.task_id}/status`, { status: 'paused' });
      await row(bottles).locator('[data-action=accept-task]').click();
      const text = await carol.toast(/paused or closed/);
      assert.ok(!text.includes('TASK_CLOSED'), text);
      await row(bottles).waitFor({ state: 'detached' });
      await row(bike).waitFor();
    });

    await step('ops confirm the completion: the reward arrives live, the row shows it done', async () => {
      reward = await server.admin(`/admin/tasks/${bike.task_id}/complete`, { player_id: carol.id });
      assert.equal(reward.grams, REWARD);
      assert.equal(reward.remaining_grams, 2 * REWARD);
      assert.equal(reward.ball.source, 'task');
      await carol.toast(/Task reward: \+120 g for "Ride a shared bike"/);
      await carol.page.locator(`#tasks .task[data-task-id="${bike.task_id}"][data-state=done]`).waitFor();
      assert.match(await row(bike).locator('.task-progress').innerText(), /^1\/1 done$/);
      await carol.screenshot('carol-tasks.png');
    });

    await step('the reward is a ripe ball of exactly the reward; collecting it sets the balance', async () => {
      assert.equal(await carol.balance(), 0);
      await carol.tab('forest');
      const ball = carol.page.locator(`#my-balls .ball.ripe[data-ball-id="${reward.ball.ball_id}"]`);
      await ball.waitFor();
      assert.equal(await ball.getAttribute('data-amount'), String(REWARD));
      await ball.click();
      await carol.waitForBalance(REWARD);
      await ball.waitFor({ state: 'detached' });
    });

    await step('a prop reward is listed as props and arrives in the inventory', async () => {
      const covers = await server.admin('/admin/tasks', newTask('Plant a street tree', {
        reward_prop: { prop: 'protection_cover', count: 2 }, per_player_limit: 1, budget_props: 4,
      }));
      await carol.tab('tasks');
      await row(covers).locator('[data-action=accept-task]').click();
      await carol.page.locator(`#tasks .task[data-task-id="${covers.task_id}"][data-state=accepted]`).waitFor();
      assert.match(await row(covers).locator('.task-reward').innerText(), /Protection cover ×2/);
      const given = await server.admin(`/admin/tasks/${covers.task_id}/complete`, { player_id: carol.id });
      assert.deepEqual([given.prop, given.remaining_props, given.ball], [{ prop: 'protection_cover', count: 2 }, 2, undefined]);
      await carol.toast(/Task reward: \+Protection cover ×2 for "Plant a street tree" — in your props/);
    });

    await step('the audit balances the budgets against the reward', async () => {
      const audit = await server.adminGet('/admin/audit');
      assert.deepEqual(audit.problems, []);
      assert.equal(audit.balanced, true);
      assert.equal(audit.task_budgets, 3 * REWARD + 800);
      assert.equal(audit.task_disbursed, REWARD);
      assert.equal(audit.task_remaining, 2 * REWARD + 800);
      assert.deepEqual([audit.task_prop_budgets, audit.task_props_disbursed, audit.task_props_remaining], [4, 2, 2]);
    });

    await step('no page errors', async () => {
      assert.deepEqual(carol.errors, []);
    });
  } finally {
    if (step.failed) {
      await carol.page?.screenshot({ path: join(ARTIFACTS, 'failure-carol-tasks.png') }).catch(() => {});
      console.error(await carol.diagnose());
      console.error(`server log (last lines):\n${server.log.slice(-40).join('\n')}`);
    }
    await carol.context?.close().catch(() => {});
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
});
