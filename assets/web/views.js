// Rendering: each function redraws one region of the page from the state. The static
// skeleton (forms, headings) is in index.html; only lists and numbers are drawn here.

import { ballSvg, treeSvg } from './art.js';
import { $, fill, h, icon } from './dom.js';
import { PROPS, STAGES, ago, countdown, date, dateTime, feedLine, grams, rewardText, sourceLabel, unavailableNote } from './text.js';

/** Where balls float around the tree, in % of the scene (x, y). */
const SLOTS = [
  [18, 34], [82, 32], [37, 8], [63, 6], [8, 62], [92, 60],
  [50, 30], [24, 72], [76, 70], [6, 20], [94, 18], [50, 0],
];

/** Where the tree grows between stages: 'seed' below 1,000 g, 'sprout' below 5,000 g. */
export const STAGE_LIMITS = { seed: 1000, sprout: 5000 };

export function cheapestSpecies(species) {
  return species.reduce((best, s) => (best === null || s.grams < best.grams ? s : best), null);
}

/** The stage a balance reaches (used for friends, whose stage the protocol does not send). */
export function stageFor(energy, species) {
  if (energy < STAGE_LIMITS.seed) return 'seed';
  if (energy < STAGE_LIMITS.sprout) return 'sprout';
  const cheapest = cheapestSpecies(species);
  if (cheapest === null || energy < cheapest.grams) return 'sapling';
  return 'tree';
}

export function avatar(id, name, extra = '') {
  return h(
    'span',
    { class: `avatar ${extra}`, style: { '--hue': String((Number(id) * 67) % 360) }, title: `#${id}` },
    [...(name || '?')][0].toUpperCase(),
  );
}

function progressBar(value, total, extra = '') {
  const pct = total > 0 ? Math.min(100, (100 * value) / total) : 0;
  return h('div', { class: `progress ${extra}`, style: { '--pct': `${pct.toFixed(1)}%` } }, h('i'));
}

/** The header: name, id, balance, tab badges. */
export function renderHeader(state) {
  const player = state.me;
  $('me-name').textContent = state.name || player?.name || '';
  $('me-id').textContent = state.playerId ? `#${state.playerId}` : '';
  fill($('me-avatar'), [...(state.name || '?')][0].toUpperCase());
  $('me-avatar').style.setProperty('--hue', String((Number(state.playerId) * 67) % 360));
  const energy = player?.energy ?? 0;
  const energyEl = $('energy');
  if (energyEl.dataset.grams !== String(energy)) {
    energyEl.textContent = grams(energy);
    energyEl.dataset.grams = String(energy);
    energyEl.classList.remove('bump');
    void energyEl.offsetWidth; // restart the bump animation
    energyEl.classList.add('bump');
  }
  const held = player?.held ?? 0;
  $('held').hidden = held === 0;
  $('held').textContent = held ? `+${grams(held)} held for review` : '';
  $('held').title = (player?.holds ?? []).map((hold) => hold.reason).join('\n');
  $('me-token').textContent = state.token ?? '';
  const incoming = state.incoming.length;
  $('friends-badge').hidden = incoming === 0;
  $('friends-badge').textContent = String(incoming);
  $('feed-badge').hidden = state.unseenFeed === 0;
  $('feed-badge').textContent = String(state.unseenFeed);
}

function ballElement(ball, { ripe, look, label, caption, onTap, slot, extra }) {
  const [x, y] = SLOTS[slot % SLOTS.length];
  return h(
    'div',
    {
      class: `ball-slot ${ripe ? 'ripe' : 'unripe'}`,
      style: { '--x': String(x), '--y': String(y), '--delay': `${(slot * 0.37) % 2}s` },
    },
    h(
      'button',
      {
        type: 'button',
        class: `ball ${ripe ? 'ripe' : 'unripe'} ${look}`,
        data: { ballId: ball.ball_id, amount: ball.amount, stealable: ball.stealable },
        title: `${sourceLabel(ball.source)} · ${grams(ball.amount)}`,
        on: { click: onTap },
      },
      h('span', { class: 'ball-art', svg: ballSvg(look) }),
      h('span', { class: 'ball-grams' }, label),
    ),
    caption,
    extra,
  );
}

function countdownEl(ball) {
  return h('span', { class: 'ball-caption countdown', data: { ripeAt: ball.ripe_at } }, '');
}

/** The player's own forest. */
export function renderForest(state, act) {
  const player = state.me;
  if (!player) return;
  const stage = player.tree;
  const sceneTree = $('my-tree');
  if (sceneTree.dataset.stage !== stage) {
    sceneTree.innerHTML = treeSvg(stage);
    sceneTree.dataset.stage = stage;
  }
  const balls = state.balls.slice(0, SLOTS.length);
  fill(
    $('my-balls'),
    balls.map((ball, slot) => {
      const ripe = act.isRipe(ball);
      const look = ball.source === 'water' ? 'water' : ripe ? 'ripe' : 'unripe';
      return ballElement(ball, {
        ripe,
        look,
        slot,
        label: `${ball.amount}g`,
        caption: ripe ? h('span', { class: 'ball-caption' }, sourceLabel(ball.source)) : countdownEl(ball),
        onTap: (event) => (ripe ? act.collect(ball, event.currentTarget) : act.notRipe(ball)),
      });
    }),
  );
  const ripeCount = state.balls.filter((b) => act.isRipe(b)).length;
  const hidden = state.balls.length - balls.length;
  $('my-caption').textContent =
    state.balls.length === 0
      ? 'No energy growing yet: walk, ride the metro or pay a bill online.'
      : ripeCount > 0
        ? `Tap a ripe ball to collect it${hidden > 0 ? ` (${hidden} more not shown)` : ''}.`
        : 'Your energy is ripening — come back when the countdown ends.';
  $('collect-all').disabled = ripeCount === 0;

  $('stat-energy').textContent = grams(player.energy);
  $('stat-total').textContent = grams(player.total_collected);
  $('stat-stage').textContent = STAGES[stage] ?? stage;
  const cheapest = cheapestSpecies(state.species);
  const steps = [
    ['seed', 0, STAGE_LIMITS.seed, 'a sprout'],
    ['sprout', STAGE_LIMITS.seed, STAGE_LIMITS.sprout, 'a sapling'],
    ['sapling', STAGE_LIMITS.sprout, cheapest?.grams ?? STAGE_LIMITS.sprout, 'a tree you can plant'],
  ];
  const step = steps.find(([name]) => name === stage);
  const bar = $('stage-progress');
  if (step) {
    const [, from, to, next] = step;
    const pct = to > from ? Math.min(100, (100 * (player.energy - from)) / (to - from)) : 100;
    bar.style.setProperty('--pct', `${Math.max(0, pct).toFixed(1)}%`);
    $('stage-hint').textContent = `${grams(Math.max(0, to - player.energy))} more to grow ${next}.`;
  } else {
    bar.style.setProperty('--pct', '100%');
    $('stage-hint').textContent = 'Your tree is grown: plant a real one!';
  }

  renderNextTree(state);
  renderProps(state, act);
}

function renderNextTree(state) {
  const card = $('next-tree');
  const energy = state.me?.energy ?? 0;
  const target = cheapestSpecies(state.species);
  if (!target) {
    card.hidden = true;
    return;
  }
  card.hidden = false;
  fill(
    card,
    h('h2', {}, icon('sprout'), ' Next real tree'),
    h('div', { class: 'species-name' }, h('b', {}, target.name), ' ', h('span', { class: 'zh' }, target.name_zh)),
    progressBar(energy, target.grams),
    h(
      'small',
      { class: 'muted' },
      energy >= target.grams
        ? `You have the ${grams(target.grams)} it takes: plant it now!`
        : `${grams(energy)} of ${grams(target.grams)} — ${grams(target.grams - energy)} to go.`,
    ),
    h('a', { class: `btn small ${energy >= target.grams ? 'primary' : ''}`, href: '#plant' }, energy >= target.grams ? 'Plant a tree' : 'All species'),
  );
}

function renderProps(state, act) {
  const card = $('props-card');
  const props = state.me?.props;
  const now = act.now();
  const owned = Object.entries(props?.inventory ?? {}).filter(([, n]) => n > 0);
  const active = (props?.active ?? []).filter((p) => p.until > now);
  card.hidden = owned.length === 0 && active.length === 0;
  fill(
    card,
    h('h2', {}, 'Props'),
    active.map((p) =>
      h('div', { class: 'prop active' }, icon('shield'), h('b', {}, PROPS[p.prop]?.name ?? p.prop), h('small', {}, `until ${dateTime(p.until)}`)),
    ),
    owned.map(([prop, count]) =>
      h(
        'div',
        { class: 'prop' },
        h('div', {}, h('b', {}, `${PROPS[prop]?.name ?? prop} ×${count}`), h('small', { class: 'muted' }, PROPS[prop]?.blurb ?? '')),
        h('button', { type: 'button', class: 'btn small', on: { click: () => act.useProp(prop) } }, 'Use'),
      ),
    ),
  );
}

/** Keeps every countdown on the page current (called each second). */
export function tickCountdowns(now) {
  for (const el of document.querySelectorAll('[data-ripe-at]')) {
    const left = Number(el.dataset.ripeAt) - now;
    el.textContent = left > 0 ? countdown(left) : 'ripening…';
  }
  for (const el of document.querySelectorAll('[data-ago]')) {
    el.textContent = ago(Number(el.dataset.ago), now);
  }
}

/** Friends, requests, suggestions. */
export function renderFriends(state, act) {
  $('my-pid').textContent = `#${state.playerId ?? '?'}`;
  const now = act.now();
  $('requests-card').hidden = state.incoming.length === 0;
  fill(
    $('incoming'),
    state.incoming.map((req) =>
      h(
        'li',
        { class: 'request', data: { playerId: req.player_id } },
        avatar(req.player_id, req.name),
        h('div', { class: 'who' }, h('b', {}, req.name), h('small', { class: 'muted' }, `#${req.player_id} · `, h('span', { data: { ago: req.sent_at } }, ago(req.sent_at, now)))),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn small primary', data: { action: 'accept' }, on: { click: () => act.accept(req.player_id) } }, 'Accept'),
          h('button', { type: 'button', class: 'btn small ghost', data: { action: 'decline' }, on: { click: () => act.decline(req.player_id) } }, 'Decline'),
        ),
      ),
    ),
  );
  $('outgoing-card').hidden = state.outgoing.length === 0;
  fill(
    $('outgoing'),
    state.outgoing.map((req) =>
      h('li', { class: 'pending', data: { playerId: req.player_id } }, avatar(req.player_id, req.name),
        h('div', { class: 'who' }, h('b', {}, req.name), h('small', { class: 'muted' }, `#${req.player_id} · sent `, h('span', { data: { ago: req.sent_at } }, ago(req.sent_at, now))))),
    ),
  );
  $('friends-count').textContent = state.friends.length ? `(${state.friends.length})` : '';
  const sorted = [...state.friends].sort((a, b) => b.stealable_grams - a.stealable_grams || a.name.localeCompare(b.name));
  fill(
    $('friends'),
    sorted.length === 0
      ? h('li', { class: 'empty muted' }, 'No friends yet. Add one by their player id — friends can steal your ripe energy, and you theirs.')
      : sorted.map((friend) => {
          const covered = friend.protected_until !== null && friend.protected_until > now;
          return h(
            'li',
            { class: 'friend', data: { playerId: friend.player_id }, tabindex: '0', on: { click: () => act.visit(friend.player_id), keydown: (e) => e.key === 'Enter' && act.visit(friend.player_id) } },
            avatar(friend.player_id, friend.name),
            h('div', { class: 'who' }, h('b', {}, friend.name), h('small', { class: 'muted' }, `#${friend.player_id} · ${grams(friend.energy)}`)),
            covered
              ? h('span', { class: 'hand covered', title: 'Protected by a cover' }, icon('shield'), 'covered')
              : h(
                  'span',
                  { class: `hand ${friend.stealable_grams > 0 ? 'can' : ''}`, data: { stealable: friend.stealable_grams }, title: 'Energy you could take now' },
                  icon('hand'),
                  grams(friend.stealable_grams),
                ),
            h('span', { class: 'chev' }, '›'),
          );
        }),
  );
  showUnavailable($('friends-unavailable'), state.friendsUnavailable, act.name);
  $('suggestions-card').hidden = state.suggestions.length === 0;
  fill(
    $('suggestions'),
    state.suggestions.map((s) =>
      h('li', { class: 'suggestion' }, avatar(s.player_id, s.name),
        h('div', { class: 'who' }, h('b', {}, s.name), h('small', { class: 'muted' }, `#${s.player_id} · ${s.mutual} mutual`)),
        h('button', { type: 'button', class: 'btn small', on: { click: () => act.requestFriend(s.player_id) } }, 'Add')),
    ),
  );
}

/** The state of one task for the player, as a CSS class and a word for its badge. */
function taskState(task) {
  if (task.completions >= task.per_player_limit) return ['done', 'Done'];
  if (!task.budget_left) return ['spent', 'Budget spent'];
  if (task.accepted) return ['accepted', 'Accepted'];
  return ['open', 'Open'];
}

/** The task center: open tasks with the player's progress and the budget's state. */
export function renderTasks(state, act) {
  const now = act.now();
  fill(
    $('tasks'),
    state.tasks.list.length === 0
      ? h('li', { class: 'empty muted' }, state.tasks.loaded ? 'No tasks are open to you right now.' : 'Loading…')
      : state.tasks.list.map((task) => {
          const [kind, words] = taskState(task);
          const canAccept = !task.accepted && task.budget_left;
          return h(
            'li',
            { class: `task ${kind}`, data: { taskId: task.task_id, state: kind, completions: task.completions } },
            h('span', { class: 'task-reward' }, icon(task.reward_prop ? 'shield' : 'leaf'), rewardText(task.reward_grams, task.reward_prop)),
            h(
              'div',
              { class: 'who task-body' },
              h('b', {}, task.title),
              task.description ? h('small', {}, task.description) : null,
              progressBar(task.completions, task.per_player_limit, kind === 'done' ? 'full' : ''),
              h(
                'small',
                { class: 'muted' },
                h('span', { class: 'task-progress' }, `${task.completions}/${task.per_player_limit} done`),
                ` · ends in ${countdown(task.ends_at - now)}`,
              ),
            ),
            canAccept
              ? h('button', { type: 'button', class: 'btn small primary', data: { action: 'accept-task' }, on: { click: () => act.acceptTask(task) } }, 'Accept')
              : h('span', { class: `badge task-state ${kind}` }, words),
          );
        }),
  );
}

/** A friend's forest. */
export function renderVisit(state, act) {
  const friend = state.friends.find((f) => f.player_id === state.visit.friendId);
  const name = friend?.name ?? `player #${state.visit.friendId}`;
  $('visit-title').textContent = `${name}'s forest`;
  const now = act.now();
  const covered = friend?.protected_until != null && friend.protected_until > now;
  $('visit-protected').hidden = !covered;
  $('visit-energy').textContent = grams(friend?.energy ?? 0);
  const stage = stageFor(friend?.energy ?? 0, state.species);
  const tree = $('visit-tree');
  if (tree.dataset.stage !== stage) {
    tree.innerHTML = treeSvg(stage);
    tree.dataset.stage = stage;
  }
  const balls = state.visit.balls.slice(0, SLOTS.length);
  const stealable = state.visit.balls.reduce((sum, b) => sum + (act.isRipe(b) ? b.stealable : 0), 0);
  $('visit-stealable').textContent = grams(stealable);
  fill(
    $('visit-balls'),
    balls.map((ball, slot) => {
      const ripe = act.isRipe(ball);
      const look = ball.source === 'water' ? 'water' : !ripe ? 'unripe' : ball.stealable > 0 ? 'ripe' : 'taken';
      return ballElement(ball, {
        ripe,
        look,
        slot,
        label: `${ball.amount}g`,
        caption: ripe
          ? h('span', { class: 'ball-caption' }, ball.stealable > 0 ? `take up to ${ball.stealable}g` : ball.source === 'water' ? 'water' : 'taken')
          : countdownEl(ball),
        onTap: (event) => (ripe ? act.steal(ball, event.currentTarget) : act.notRipe(ball)),
        extra: ripe
          ? h('button', { type: 'button', class: 'help-btn', title: `Collect it for ${name}`, on: { click: () => act.help(ball) } }, 'Help')
          : null,
      });
    }),
  );
  $('visit-caption').textContent = !state.visit.loaded
    ? 'Walking over…'
    : state.visit.balls.length === 0
      ? `${name} has no energy growing right now.`
      : stealable > 0
        ? 'Tap a glowing ball to take some energy!'
        : 'Nothing to take right now.';
  const revivable = state.visit.revivable.filter((ball) => ball.until > now);
  $('revive-card').hidden = revivable.length === 0;
  fill(
    $('revive-buttons'),
    revivable.map((ball) =>
      h(
        'button',
        {
          type: 'button',
          class: 'btn small revive-btn',
          data: { action: 'revive', ballId: ball.ball_id },
          title: `Revive ${grams(ball.grams)} for ${name}`,
          on: { click: (event) => act.revive(ball, event.currentTarget) },
        },
        `Revive ${grams(ball.grams)}`,
      ),
    ),
  );
  const energy = state.me?.energy ?? 0;
  fill(
    $('water-buttons'),
    [10, 18, 33, 66].map((g) =>
      h(
        'button',
        {
          type: 'button',
          class: 'btn water-btn',
          data: { grams: g },
          disabled: energy < g,
          title: energy < g ? `You need ${grams(g)}` : `Give ${grams(g)} to ${name}`,
          on: { click: () => act.water(g) },
        },
        icon('drop'),
        `${g} g`,
      ),
    ),
  );
}

/** Species with progress and the plant button; certificates. */
export function renderPlant(state, act) {
  const energy = state.me?.energy ?? 0;
  fill(
    $('species'),
    state.species.map((s) => {
      const enough = energy >= s.grams;
      return h(
        'li',
        { class: `species-item ${enough ? 'ready' : ''}`, data: { species: s.id } },
        h('div', { class: 'species-art', svg: treeSvg(enough ? 'tree' : 'sapling') }),
        h(
          'div',
          { class: 'species-body' },
          h('div', { class: 'species-name' }, h('b', {}, s.name), ' ', h('span', { class: 'zh' }, s.name_zh)),
          h('small', { class: 'muted' }, `${s.region} · ${grams(s.grams)}`),
          progressBar(energy, s.grams, enough ? 'full' : ''),
          h('small', { class: 'muted' }, enough ? 'Ready to plant!' : `${grams(s.grams - energy)} to go`),
        ),
        h(
          'button',
          {
            type: 'button',
            class: `btn ${enough ? 'primary' : ''} plant-btn`,
            disabled: !enough,
            on: { click: (event) => act.plant(s, event.currentTarget) },
          },
          'Plant',
        ),
      );
    }),
  );
  fill(
    $('areas'),
    state.areas.map((area) => {
      const input = h('input', {
        type: 'number',
        class: 'area-m2',
        min: '1',
        max: String(area.max_square_metres),
        value: String(state.areaM2[area.id] ?? 1),
        'aria-label': `Square metres of ${area.name}`,
        on: { input: (event) => act.chooseArea(area, event.currentTarget.value) },
      });
      return h(
        'li',
        { class: 'species-item area-item', data: { area: area.id } },
        h(
          'div',
          { class: 'species-body' },
          h('div', { class: 'species-name' }, h('b', {}, area.name), ' ', h('span', { class: 'zh' }, area.name_zh)),
          h('small', { class: 'muted' }, `${area.region} · ${grams(area.grams_per_m2)} per m² · up to ${area.max_square_metres} m²`),
        ),
        input,
        h(
          'button',
          {
            type: 'button',
            class: 'btn protect-btn',
            disabled: energy < area.grams_per_m2,
            on: { click: (event) => act.protectArea(area, input.value, event.currentTarget) },
          },
          'Protect',
        ),
      );
    }),
  );
  $('holdings').textContent = `${state.me?.trees ?? 0} trees planted · ${state.me?.protected_m2 ?? 0} m² protected`;
  const certificates = [...(state.me?.certificates ?? [])].reverse();
  const byId = new Map([...state.species, ...state.areas].map((s) => [s.id, s]));
  fill(
    $('certificates'),
    certificates.length === 0
      ? h('p', { class: 'muted' }, 'No certificates yet. Your first tree is waiting!')
      : certificates.map((c) => {
          const s = byId.get(c.species);
          return h(
            'div',
            { class: 'cert', data: { certificateId: c.id } },
            h('div', { class: 'cert-seal' }, icon('seal')),
            h('small', { class: 'cert-no' }, `Certificate No. ${c.id}`),
            h('b', { class: 'cert-species' }, s ? `${s.name} ${s.name_zh}` : c.species),
            h('span', {}, c.kind === 'area' ? `${c.square_metres} m² protected in ${c.region}` : `planted in ${c.region}`),
            h('small', { class: 'muted' }, `${date(c.planted_at)} · ${grams(c.grams)}${c.team ? ` · team ${c.team}` : ''}`),
          );
        }),
  );
}

const FEED_ICONS = { stolen: 'hand', watered: 'drop', helped: 'friends', protected_block: 'shield', certificate: 'seal' };

/** The server's feed and this session's live events. */
export function renderFeed(state, act) {
  const now = act.now();
  fill(
    $('feed'),
    state.feed.entries.length === 0
      ? h('li', { class: 'empty muted' }, state.feed.loaded ? 'Nothing has happened in your forest yet.' : 'Loading…')
      : state.feed.entries.map((entry) =>
          h(
            'li',
            { class: `feed-entry ${entry.kind}` },
            h('span', { class: 'feed-icon' }, icon(FEED_ICONS[entry.kind] ?? 'leaf')),
            h('span', { class: 'feed-text' }, feedLine(entry, state.playerId, act.name)),
            h('small', { class: 'muted', title: dateTime(entry.time), data: { ago: entry.time } }, ago(entry.time, now)),
          ),
        ),
  );
  $('feed-more').hidden = state.feed.next === null;
  fill(
    $('live'),
    state.live.length === 0
      ? h('li', { class: 'empty muted' }, 'Events appear here as they happen.')
      : state.live.map((item) =>
          h('li', { class: `live-entry ${item.kind}` }, h('span', {}, item.text), h('small', { class: 'muted', data: { ago: item.time } }, ago(item.time, now))),
        ),
  );
}

/** Shows (or hides) the note naming the players a list could not read. */
function showUnavailable(note, players, name) {
  note.textContent = unavailableNote(players, name);
  note.hidden = note.textContent === '';
}

/** The leaderboard. */
export function renderBoards(state, act) {
  for (const button of $('board-period').querySelectorAll('button')) {
    button.setAttribute('aria-pressed', String(button.dataset.period === state.board.period));
  }
  fill(
    $('board'),
    state.board.entries.length === 0
      ? h('li', { class: 'empty muted' }, 'No one has collected energy yet.')
      : state.board.entries.map((entry) =>
          h(
            'li',
            { class: `board-entry ${entry.player_id === state.playerId ? 'me' : ''} rank-${entry.rank}` },
            h('span', { class: 'rank' }, String(entry.rank)),
            avatar(entry.player_id, entry.name),
            h('b', { class: 'board-name' }, entry.player_id === state.playerId ? `${entry.name} (you)` : entry.name),
            h('span', { class: 'board-grams' }, grams(entry.grams)),
          ),
        ),
  );
  showUnavailable($('board-unavailable'), state.board.unavailable, act.name);
}
