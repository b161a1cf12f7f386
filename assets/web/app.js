// Canopy's browser client: state, actions and live events. It speaks only the public
// protocol (docs/PROTOCOL.md) over the game socket; net.js keeps the socket alive.

import { meadowSvg, treeSvg } from './art.js';
import { $, h, paintIcons, toast } from './dom.js';
import { GameClock, GameSocket, gameSocketUrl, shardRedirect } from './net.js';
import { countdown, errorText, grams, rewardText, sourceLabel } from './text.js';
import { Rain } from './rain.js';
import * as views from './views.js';

const socketUrl = gameSocketUrl(window.location);
// Tokens are per server: a token of another server would only fail to log in.
const TOKEN_KEY = `canopy.token:${socketUrl}`;
const PING_EVERY_MS = 15_000;
// Redirects followed in a row without a login: shards whose maps disagree would
// otherwise bounce the page between them forever.
const MAX_REDIRECTS = 2;
const LIVE_KEPT = 60;

const state = {
  view: 'login',
  token: readToken(),
  playerId: null,
  name: '',
  me: null, // PlayerView
  balls: [], // own unpicked balls, in ripening order
  ripeSeen: new Set(), // ball ids a `ball_ripe` event announced
  species: [],
  areas: [],
  /** Square metres chosen per area in the plant view, kept across renders. */
  areaM2: {},
  friends: [],
  incoming: [],
  outgoing: [],
  friendsUnavailable: [], // friends whose shard did not answer the last `friends`
  suggestions: [],
  names: new Map(), // player id -> name, from every list and event seen
  visit: { friendId: null, balls: [], revivable: [], loaded: false },
  watching: { friends: false, forest: null }, // what this session watches on the server
  feed: { entries: [], next: null, loaded: false },
  tasks: { list: [], loaded: false }, // the task center's tasks open to the player
  unseenFeed: 0,
  live: [],
  board: { period: 'total', entries: [], unavailable: [] },
  connection: { state: 'connecting' },
  loggedIn: false,
  everLoggedIn: false,
  redirects: 0, // WRONG_SHARD redirects followed since the last login
};

const clock = new GameClock();
const net = new GameSocket(socketUrl, { onOpen, onEvent, onStatus });
const rain = new Rain(net, clock, () => syncClock());

// ---------------------------------------------------------------------------------------
// Storage

function readToken() {
  try {
    return window.localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function saveToken(token) {
  state.token = token;
  try {
    window.localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Private mode without storage: the session still works until the tab closes.
  }
}

function forgetToken() {
  state.token = null;
  try {
    window.localStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored
  }
}

// ---------------------------------------------------------------------------------------
// Helpers the views use

function name(id) {
  if (id === null || id === undefined) return 'Someone';
  if (id === state.playerId) return state.name || 'you';
  return state.names.get(id) ?? `player #${id}`;
}

function isRipe(ball) {
  return state.ripeSeen.has(ball.ball_id) || ball.stealable > 0 || ball.ripe_at <= clock.now();
}

function report(error) {
  if (error?.code === 'OFFLINE') {
    // The banner already says so; one toast is enough.
    if (!document.querySelector('.toast[data-code="OFFLINE"]')) {
      toast({ kind: 'bad', body: errorText(error) }).dataset.code = 'OFFLINE';
    }
    return;
  }
  console.warn('request failed', error);
  const item = toast({ kind: 'bad', title: 'Oops', body: errorText(error), ttl: 7000 });
  item.dataset.code = error?.code ?? 'INTERNAL';
}

/** Events that also land in the server's feed: they light the Feed tab's badge. */
const FEED_KINDS = new Set(['energy_stolen', 'watered', 'help_collected', 'protected_block', 'certificate']);

function live(kind, text) {
  state.live.unshift({ kind, text, time: clock.now() });
  state.live.length = Math.min(state.live.length, LIVE_KEPT);
  if (state.view !== 'feed' && FEED_KINDS.has(kind)) state.unseenFeed += 1;
}

function learnNames(list) {
  for (const item of list) if (item.player_id !== undefined) state.names.set(item.player_id, item.name);
}

// ---------------------------------------------------------------------------------------
// Loading: each refresher fetches one part of the state and redraws. `later(...)`
// coalesces refreshes asked for by bursts of events into one request each.

const refreshers = {
  async me() {
    const [me] = await Promise.all([net.request('me'), syncClock()]);
    state.me = me.player;
    state.name = me.player.name;
    state.balls = me.balls;
    const ids = new Set(me.balls.map((b) => b.ball_id));
    for (const id of state.ripeSeen) if (!ids.has(id)) state.ripeSeen.delete(id);
  },
  async species() {
    const catalog = await net.request('species');
    state.species = catalog.species;
    state.areas = catalog.areas ?? [];
  },
  async friends() {
    const r = await net.request('friends');
    state.friends = r.friends;
    state.incoming = r.incoming;
    state.outgoing = r.outgoing;
    state.friendsUnavailable = r.unavailable ?? [];
    learnNames([...r.friends, ...r.incoming, ...r.outgoing]);
  },
  async suggestions() {
    const r = await net.request('suggestions', { limit: 8 });
    state.suggestions = r.suggestions;
    learnNames(r.suggestions);
  },
  async visit() {
    const friendId = state.visit.friendId;
    if (friendId === null) return;
    try {
      const [r] = await Promise.all([net.request('friend_balls', { friend_id: friendId }), syncClock()]);
      if (state.visit.friendId !== friendId) return;
      state.visit.balls = r.balls;
      state.visit.revivable = r.revivable ?? [];
      state.visit.loaded = true;
    } catch (error) {
      if (error.code === 'NOT_FRIENDS') {
        window.location.hash = '#friends';
      }
      throw error;
    }
  },
  async feed() {
    const r = await net.request('feed', { limit: 50 });
    state.feed = { entries: r.entries, next: r.next, loaded: true };
  },
  async tasks() {
    const [r] = await Promise.all([net.request('tasks'), syncClock()]);
    state.tasks = { list: r.tasks, loaded: true };
  },
  async board() {
    const r = await net.request('leaderboard', { period: state.board.period, limit: 50 });
    state.board.entries = r.entries;
    state.board.unavailable = r.unavailable ?? [];
    learnNames(r.entries);
  },
};

async function syncClock() {
  const r = await net.request('ping');
  clock.sync(r.time);
}

const due = new Set();
let dueTimer = null;

function later(...parts) {
  for (const part of parts) due.add(part);
  if (dueTimer === null) dueTimer = setTimeout(runDue, 120);
}

async function runDue() {
  dueTimer = null;
  const parts = [...due];
  due.clear();
  await refresh(...parts);
}

async function refresh(...parts) {
  const results = await Promise.allSettled(parts.map((part) => refreshers[part]()));
  const failed = results.find((r) => r.status === 'rejected');
  render();
  if (failed) report(failed.reason);
}

/** What the current view needs besides the player's own state. */
function viewParts(view) {
  return { friends: ['friends', 'suggestions'], visit: ['visit', 'friends'], feed: ['feed'], tasks: ['tasks'], boards: ['board'] }[view] ?? [];
}

// ---------------------------------------------------------------------------------------
// Watching: the server pushes friends' changes only to a session that watches them, so
// the page watches the friends list while the Friends view is open and a friend's forest
// while it is visited (docs/PROTOCOL.md, "Watching").

const NOT_WATCHING = Object.freeze({ friends: false, forest: null });

/** What the open view shows of other players. */
function wantedWatches() {
  if (!state.loggedIn) return NOT_WATCHING;
  return {
    friends: state.view === 'friends',
    forest: state.view === 'visit' ? state.visit.friendId : null,
  };
}

/**
 * Brings the session's watches in line with the open view. Sent before the view's reads,
 * on the same socket, so the reads see everything before the watch and the pushes
 * everything after it. A new login starts with no watches on the server.
 */
function syncWatches() {
  const want = wantedWatches();
  const have = state.watching;
  state.watching = want;
  if (!state.loggedIn) return;
  const sends = [];
  if (want.friends !== have.friends) sends.push([want.friends ? 'watch' : 'unwatch', { what: 'friends' }]);
  if (want.forest !== have.forest) {
    if (want.forest !== null) sends.push(['watch', { what: 'forest', friend_id: want.forest }]);
    else sends.push(['unwatch', { what: 'forest', friend_id: have.forest }]);
  }
  // A refused watch (a friendship that just ended) only means no pushes; the view's own
  // read reports the problem.
  for (const [op, fields] of sends) net.request(op, fields).catch(() => {});
}

/** A friend's stealable grams changed: the hand icon, and a toast when it appears. */
function friendStealable(friendId, stealable) {
  const friend = state.friends.find((f) => f.player_id === friendId);
  const before = friend?.stealable_grams ?? 0;
  if (friend) friend.stealable_grams = stealable;
  if (stealable > 0 && before === 0) {
    const text = `${name(friendId)} has ${grams(stealable)} ripe for the taking`;
    live('friend_stealable', text);
    toast({
      kind: 'info',
      icon: 'hand',
      body: text,
      actions: state.view === 'visit' && state.visit.friendId === friendId ? [] : [{ label: 'Visit', run: () => actions.visit(friendId) }],
    });
  }
  return friend !== undefined;
}

// ---------------------------------------------------------------------------------------
// Views and routing (`#forest`, `#friends`, `#visit/<id>`, `#tasks`, `#plant`, `#feed`, `#boards`)

const VIEWS = ['login', 'forest', 'friends', 'visit', 'tasks', 'plant', 'feed', 'boards'];

function route() {
  if (!state.loggedIn) {
    show('login');
    return;
  }
  const hash = window.location.hash.replace(/^#/, '');
  const [view, arg] = hash.split('/');
  if (view === 'visit' && /^\d+$/.test(arg ?? '')) {
    const friendId = Number(arg);
    if (state.visit.friendId !== friendId) state.visit = { friendId, balls: [], revivable: [], loaded: false };
    show('visit');
  } else if (VIEWS.includes(view) && view !== 'login' && view !== 'visit') {
    show(view);
  } else {
    show('forest');
  }
  if (state.view === 'feed') state.unseenFeed = 0;
  later(...viewParts(state.view));
}

function show(view) {
  state.view = view;
  syncWatches();
  for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
  const tab = view === 'visit' ? 'friends' : view;
  for (const link of document.querySelectorAll('[data-tab]')) {
    link.classList.toggle('active', link.dataset.tab === tab);
  }
  $('tabs').hidden = view === 'login';
  $('me-chip').hidden = view === 'login';
  render();
}

function render() {
  if (state.view === 'login' || !state.me) {
    if (state.loggedIn) views.renderHeader(state);
    return;
  }
  views.renderHeader(state);
  const act = actions;
  switch (state.view) {
    case 'forest':
      views.renderForest(state, act);
      break;
    case 'friends':
      views.renderFriends(state, act);
      break;
    case 'visit':
      views.renderVisit(state, act);
      break;
    case 'tasks':
      views.renderTasks(state, act);
      break;
    case 'plant':
      views.renderPlant(state, act);
      break;
    case 'feed':
      views.renderFeed(state, act);
      break;
    case 'boards':
      views.renderBoards(state, act);
      break;
    default:
      break;
  }
  views.tickCountdowns(clock.now());
}

// ---------------------------------------------------------------------------------------
// Session: connect, log in with the saved token, or show the sign-in card

async function onOpen() {
  try {
    const hello = await net.request('hello', { version: 1 });
    clock.sync(hello.time);
  } catch (error) {
    if (error.code === 'UNSUPPORTED_VERSION') {
      banner(errorText(error));
      net.stop();
      return;
    }
  }
  if (!state.token) {
    showLogin();
    return;
  }
  try {
    const r = await net.request('login', { token: state.token });
    await enterGame(r.player_id, r.name);
  } catch (error) {
    if (followRedirect(error)) return;
    if (error.code === 'UNAUTHENTICATED') {
      forgetToken();
      state.loggedIn = false;
      showLogin('Your saved login is not known to this server: register or paste a token.');
    } else {
      report(error);
    }
  }
}

/**
 * A cluster's shard answered that the player lives on another shard: reconnect there,
 * where `onOpen` logs in again with the saved token (`beforeMove` saves a new one).
 * False when there is nowhere to go (no redirect, or too many in a row).
 */
function followRedirect(error, beforeMove = () => {}) {
  const url = shardRedirect(error);
  if (!url || state.redirects >= MAX_REDIRECTS) return false;
  state.redirects += 1;
  beforeMove();
  net.moveTo(url);
  return true;
}

async function enterGame(playerId, playerName) {
  const returning = state.everLoggedIn;
  state.redirects = 0;
  state.playerId = playerId;
  state.name = playerName;
  state.names.set(playerId, playerName);
  state.loggedIn = true;
  state.everLoggedIn = true;
  state.watching = NOT_WATCHING; // a new login has none on the server
  banner(null);
  await refresh('me', 'species', 'friends');
  await rain.refresh().catch(report);
  route();
  if (returning) toast({ kind: 'good', icon: 'leaf', body: 'Reconnected — welcome back to your forest.', ttl: 3500 });
}

function showLogin(message) {
  state.loggedIn = false;
  const art = $('login-art');
  if (!art.firstChild) art.innerHTML = treeSvg('sprout');
  const error = $('login-error');
  error.hidden = !message;
  error.textContent = message ?? '';
  show('login');
  $('register-name').focus();
}

function onStatus(status) {
  state.connection = status;
  paintConnection();
}

function paintConnection() {
  const status = state.connection;
  const pill = $('conn');
  pill.dataset.state = status.state;
  const text = {
    connecting: 'Connecting…',
    online: 'Live',
    offline: 'Offline',
  }[status.state];
  if (status.state === 'waiting') {
    const seconds = Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000));
    $('conn-text').textContent = `Reconnecting in ${seconds}s`;
    if (state.everLoggedIn) {
      banner(`Lost the connection to the forest — reconnecting in ${seconds}s…`, {
        label: 'Retry now',
        run: () => net.retryNow(),
      });
    }
  } else {
    $('conn-text').textContent = text ?? status.state;
    if (status.state === 'connecting' && state.everLoggedIn) banner('Reconnecting to the forest…');
  }
}

function banner(message, action) {
  const el = $('banner');
  el.hidden = !message;
  el.replaceChildren();
  if (!message) return;
  el.append(h('span', {}, message));
  if (action) el.append(h('button', { type: 'button', class: 'btn small', on: { click: action.run } }, action.label));
}

// ---------------------------------------------------------------------------------------
// Live events

function onEvent(event) {
  switch (event.event) {
    case 'ball_new': {
      const ball = event.ball;
      const known = state.balls.findIndex((b) => b.ball_id === ball.ball_id);
      if (known >= 0) state.balls[known] = ball;
      else state.balls.push(ball);
      state.balls.sort((a, b) => a.ripe_at - b.ripe_at || a.ball_id - b.ball_id);
      const text =
        ball.source === 'water'
          ? `A water ball of ${grams(ball.amount)} landed on your tree`
          : `New energy growing: ${grams(ball.amount)} from ${sourceLabel(ball.source)}`;
      // A task's reward ball is announced by its `task_completed`, a revived ball by its
      // `energy_revived`.
      if (known < 0 && ball.source !== 'task' && ball.source !== 'revived') {
        live('ball_new', text);
        toast({ kind: 'info', icon: 'leaf', body: text, ttl: 4000 });
      }
      break;
    }
    case 'ball_ripe': {
      for (const b of event.balls) state.ripeSeen.add(b.ball_id);
      // Water balls are ripe at once; the `watered` event already told about them.
      const water = new Set(state.balls.filter((b) => b.source === 'water').map((b) => b.ball_id));
      const total = event.balls.filter((b) => !water.has(b.ball_id)).reduce((sum, b) => sum + b.amount, 0);
      if (total > 0) {
        const text = `${grams(total)} of energy is ripe — tap to collect!`;
        live('ball_ripe', text);
        toast({ kind: 'good', icon: 'leaf', title: 'Ripe!', body: text });
      }
      later('me');
      break;
    }
    case 'ball_gone': {
      const ball = state.balls.find((b) => b.ball_id === event.ball_id);
      state.balls = state.balls.filter((b) => b.ball_id !== event.ball_id);
      const text = `A ball${ball ? ` of ${grams(ball.amount)}` : ''} expired before anyone picked it`;
      live('ball_gone', text);
      toast({ kind: 'info', body: text });
      break;
    }
    case 'energy_stolen': {
      const ball = state.balls.find((b) => b.ball_id === event.ball_id);
      if (ball) {
        ball.amount = Math.max(0, ball.amount - event.grams);
        ball.stolen += event.grams;
      }
      const text = `${name(event.by)} stole ${grams(event.grams)} from you!`;
      live('energy_stolen', text);
      toast({ kind: 'steal', icon: 'hand', title: 'Thief!', body: text, ttl: 8000 });
      later('me', ...(state.view === 'feed' ? ['feed'] : []));
      break;
    }
    case 'watered': {
      const text = `${name(event.by)} watered your tree with ${grams(event.grams)}`;
      live('watered', text);
      toast({ kind: 'water', icon: 'drop', title: 'Watered', body: text });
      later('me', ...(state.view === 'feed' ? ['feed'] : []));
      break;
    }
    case 'friend_request': {
      state.names.set(event.from, event.name);
      const text = `${event.name} (#${event.from}) wants to be friends`;
      live('friend_request', text);
      const item = toast({
        kind: 'friend',
        icon: 'friends',
        title: 'Friend request',
        body: text,
        ttl: 12000,
        actions: [
          { label: 'Accept', run: () => actions.accept(event.from) },
          { label: 'Later', run: () => {} },
        ],
      });
      item.dataset.requestFrom = String(event.from);
      later('friends');
      break;
    }
    case 'friend_added':
      for (const stale of document.querySelectorAll(`.toast[data-request-from="${event.player_id}"]`)) stale.remove();
      refreshers
        .friends()
        .then(() => {
          const text = `You and ${name(event.player_id)} are now friends`;
          live('friend_added', text);
          toast({ kind: 'friend', icon: 'friends', body: text });
          render();
        })
        .catch(report);
      break;
    case 'friend_removed': {
      const text = `${name(event.player_id)} is no longer your friend`;
      live('friend_removed', text);
      toast({ kind: 'info', body: text });
      if (state.visit.friendId === event.player_id && state.view === 'visit') window.location.hash = '#friends';
      later('friends');
      break;
    }
    // One per changed friend per batch, while the friends list or that friend's forest
    // is watched; a visited forest's balls come with its `forest_changed`.
    case 'friend_stealable': {
      if (!friendStealable(event.friend_id, event.grams)) later('friends');
      break;
    }
    case 'forest_changed': {
      friendStealable(event.owner_id, event.stealable_grams);
      if (state.visit.friendId === event.owner_id) {
        state.visit.balls = event.balls;
        state.visit.revivable = event.revivable ?? [];
        state.visit.loaded = true;
      }
      break;
    }
    case 'certificate': {
      const c = event.certificate;
      const area = c.kind === 'area';
      const text = area
        ? `Certificate No. ${c.id}: ${c.square_metres} m² of ${c.species.replaceAll('_', ' ')} protected in ${c.region}`
        : `Certificate No. ${c.id}: a ${c.species.replaceAll('_', ' ')} tree planted in ${c.region}${c.team ? ` with team ${c.team}` : ''}`;
      live('certificate', text);
      toast({ kind: 'good', icon: 'seal', title: area ? 'A protected area!' : 'A real tree!', body: text, ttl: 10000 });
      later('me');
      break;
    }
    case 'help_collected': {
      const text = `${name(event.by)} collected ${grams(event.grams)} for you`;
      live('help_collected', text);
      toast({ kind: 'friend', icon: 'friends', body: text });
      state.balls = state.balls.filter((b) => b.ball_id !== event.ball_id);
      later('me');
      break;
    }
    case 'protected_block': {
      const text = `Your protection cover stopped ${name(event.by)} from stealing`;
      live('protected_block', text);
      toast({ kind: 'good', icon: 'shield', body: text });
      break;
    }
    // The publisher confirmed a completion; the reward ball comes with its own `ball_new`.
    case 'task_completed': {
      const task = state.tasks.list.find((t) => t.task_id === event.task_id);
      const where = event.prop ? 'in your props' : 'ripe on your tree';
      const text = `Task reward: +${rewardText(event.grams, event.prop)} for ${task ? `"${task.title}"` : `task #${event.task_id}`} — ${where}`;
      live('task_completed', text);
      toast({ kind: 'good', icon: 'task', title: 'Task done!', body: text, ttl: 9000 });
      later('me', 'tasks');
      break;
    }
    case 'risk_hold': {
      const text = `${grams(event.grams)} is held for review: ${event.reason}`;
      live('risk_hold', text);
      toast({ kind: 'info', icon: 'shield', title: 'Held for review', body: text, ttl: 10000 });
      later('me');
      break;
    }
    // The prop is in the inventory already; `me` brings it onto the page.
    case 'prop_gift': {
      const text = `${name(event.from)} gave you a ${event.prop.replaceAll('_', ' ')}`;
      live('prop_gift', text);
      toast({ kind: 'friend', icon: 'friends', title: 'A gift!', body: text });
      later('me');
      break;
    }
    // The revived ball comes with its own `ball_new`.
    case 'energy_revived': {
      const text = `${name(event.by)} revived ${grams(event.grams)} of your expired energy`;
      live('energy_revived', text);
      toast({ kind: 'friend', icon: 'friends', title: 'Revived!', body: text });
      later('me');
      break;
    }
    // The round ended on the server's clock: its grams are in the balance now.
    case 'rain_ended': {
      const text = `Energy rain: ${event.caught} balls, +${grams(event.grams)} and +${event.vitality} vitality`;
      live('rain_ended', text);
      toast({ kind: 'good', icon: 'drop', title: 'Rain over', body: text, ttl: 8000 });
      rain.ended(event);
      later('me');
      break;
    }
    case 'rain_chance': {
      const text = `${name(event.from)} gave you one more energy rain round today`;
      live('rain_chance', text);
      toast({ kind: 'friend', icon: 'friends', title: 'A rain chance!', body: text });
      rain.refresh().catch(report);
      break;
    }
    case 'server_shutdown':
      live('server_shutdown', 'The server is restarting');
      banner('The server is restarting — we will reconnect and log you back in.');
      break;
    default:
      console.info('unknown event', event);
  }
  render();
}

// ---------------------------------------------------------------------------------------
// Actions (what the views' buttons do)

/** A "+52 g" that floats up from a ball. */
function floatText(anchor, text) {
  const slot = anchor.closest('.ball-slot') ?? anchor;
  slot.append(h('span', { class: 'float-text' }, text));
}

function twoStep(button, confirmLabel, run) {
  if (button.dataset.armed === '1') {
    delete button.dataset.armed;
    run();
    return;
  }
  const label = button.textContent;
  button.dataset.armed = '1';
  button.textContent = confirmLabel;
  button.classList.add('armed');
  setTimeout(() => {
    if (button.dataset.armed === '1') {
      delete button.dataset.armed;
      button.textContent = label;
      button.classList.remove('armed');
    }
  }, 4000);
}

function gameDay() {
  // The game's day is UTC+8 by default; any fixed zone keeps refs unique per day.
  return new Date(clock.now() + 8 * 3_600_000).toISOString().slice(0, 10);
}

const actions = {
  now: () => clock.now(),
  name,
  isRipe,

  notRipe(ball) {
    const left = ball.ripe_at - clock.now();
    toast({ kind: 'info', body: left > 0 ? `Still growing: ripe in ${countdown(left)}.` : 'Almost ripe…', ttl: 2500 });
  },

  async collect(ball, button) {
    button.disabled = true;
    try {
      const r = await net.request('collect', { ball_id: ball.ball_id });
      button.closest('.ball-slot')?.classList.add('picked');
      floatText(button, `+${r.grams} g`);
      state.me.energy = r.energy;
      state.balls = state.balls.filter((b) => b.ball_id !== ball.ball_id);
      live('collect', `You collected ${grams(r.grams)}`);
      views.renderHeader(state);
      $('stat-energy').textContent = grams(r.energy);
      // Let the ball fly off before the forest is redrawn.
      setTimeout(() => later('me'), 650);
    } catch (error) {
      button.disabled = false;
      report(error);
      later('me');
    }
  },

  async collectAll() {
    try {
      const r = await net.request('collect_all');
      for (const slot of document.querySelectorAll('#my-balls .ball-slot.ripe')) slot.classList.add('picked');
      state.me.energy = r.energy;
      state.balls = state.balls.filter((b) => !isRipe(b));
      const text = r.balls > 0 ? `Collected ${grams(r.grams)} from ${r.balls} ball${r.balls === 1 ? '' : 's'}` : 'Nothing ripe to collect yet';
      if (r.balls > 0) live('collect', text);
      toast({ kind: r.balls > 0 ? 'good' : 'info', icon: 'leaf', body: text, ttl: 4000 });
      views.renderHeader(state);
      $('stat-energy').textContent = grams(r.energy);
      setTimeout(() => later('me'), 650);
    } catch (error) {
      report(error);
    }
  },

  async steal(ball, button) {
    const friendId = state.visit.friendId;
    button.disabled = true;
    try {
      const r = await net.request('steal', { friend_id: friendId, ball_id: ball.ball_id });
      floatText(button, `+${r.grams} g`);
      state.me.energy = r.energy;
      const text = `You took ${grams(r.grams)} from ${name(friendId)}`;
      live('steal', text);
      toast({ kind: 'steal', icon: 'hand', title: 'Got it!', body: text });
      views.renderHeader(state);
      setTimeout(() => later('visit', 'friends', 'me'), 500);
    } catch (error) {
      button.disabled = false;
      report(error);
      later('visit');
    }
  },

  async revive(ball, button) {
    const friendId = state.visit.friendId;
    button.disabled = true;
    try {
      const r = await net.request('revive', { friend_id: friendId, ball_id: ball.ball_id });
      state.visit.revivable = state.visit.revivable.filter((b) => b.ball_id !== ball.ball_id);
      const text = `You revived ${grams(r.grams)} for ${name(friendId)}: vitality ${r.vitality}`;
      live('revive', text);
      toast({ kind: 'friend', icon: 'friends', body: text });
    } catch (error) {
      button.disabled = false;
      report(error);
    }
    later('visit', 'me');
  },

  async help(ball) {
    const friendId = state.visit.friendId;
    try {
      const r = await net.request('help_collect', { friend_id: friendId, ball_id: ball.ball_id });
      const text = `You collected ${grams(r.grams)} for ${name(friendId)}`;
      live('help', text);
      toast({ kind: 'friend', icon: 'friends', body: text });
    } catch (error) {
      report(error);
    }
    later('visit', 'friends');
  },

  async water(amount) {
    const friendId = state.visit.friendId;
    try {
      const r = await net.request('water', { friend_id: friendId, grams: amount });
      state.me.energy = r.energy;
      const text = `You watered ${name(friendId)} with ${grams(amount)}`;
      live('water', text);
      toast({ kind: 'water', icon: 'drop', body: text });
    } catch (error) {
      report(error);
    }
    later('me', 'visit', 'friends');
  },

  plant(species, button) {
    twoStep(button, `Spend ${grams(species.grams)}?`, async () => {
      try {
        const r = await net.request('plant', { species: species.id });
        state.me.energy = r.energy;
        toast({
          kind: 'good',
          icon: 'seal',
          title: `You planted a ${species.name}!`,
          body: `Certificate No. ${r.certificate.id} — a real tree in ${r.certificate.region}.`,
          ttl: 9000,
        });
      } catch (error) {
        report(error);
      }
      later('me');
    });
  },

  chooseArea(area, squareMetres) {
    state.areaM2[area.id] = squareMetres;
  },

  protectArea(area, squareMetres, button) {
    const m2 = Number.parseInt(String(squareMetres).trim(), 10);
    if (!Number.isInteger(m2) || m2 < 1 || m2 > area.max_square_metres) {
      toast({ kind: 'bad', body: `Choose 1 to ${area.max_square_metres} m².` });
      return;
    }
    twoStep(button, `Spend ${grams(m2 * area.grams_per_m2)}?`, async () => {
      try {
        const r = await net.request('protect_area', { area: area.id, square_metres: m2 });
        state.me.energy = r.energy;
        toast({
          kind: 'good',
          icon: 'seal',
          title: `You protected ${m2} m² of ${area.name}!`,
          body: `Certificate No. ${r.certificate.id} — ${r.certificate.region}.`,
          ttl: 9000,
        });
      } catch (error) {
        report(error);
      }
      later('me');
    });
  },

  async useProp(prop) {
    try {
      const r = await net.request('use_prop', { prop });
      if (state.me) state.me.props = r.props;
      toast({ kind: 'good', body: `${prop.replaceAll('_', ' ')} used.` });
    } catch (error) {
      report(error);
    }
    later('me');
  },

  async reportSteps(value) {
    const steps = Number.parseInt(String(value).trim(), 10);
    if (!Number.isFinite(steps) || steps < 0) {
      toast({ kind: 'bad', body: 'Steps are a whole number, like 8500.' });
      return;
    }
    try {
      const r = await net.request('record_action', { kind: 'walk', quantity: steps, ref: `web-steps-${gameDay()}-${steps}` });
      toast({
        kind: r.grams > 0 ? 'good' : 'info',
        icon: 'leaf',
        body:
          r.grams > 0
            ? `${steps.toLocaleString('en')} steps: +${grams(r.grams)} growing in today's walk ball.`
            : "No new energy: today's walk is already counted (296 g a day at most).",
      });
      $('steps').value = '';
    } catch (error) {
      report(error);
    }
    later('me');
  },

  async acceptTask(task) {
    try {
      const r = await net.request('task_accept', { task_id: task.task_id });
      const known = state.tasks.list.findIndex((t) => t.task_id === r.task.task_id);
      if (known >= 0) state.tasks.list[known] = r.task;
      toast({ kind: 'good', icon: 'task', body: `Task accepted: ${r.task.title}. The reward comes once the partner confirms it.` });
    } catch (error) {
      report(error);
    }
    later('tasks');
  },

  async requestFriend(playerId) {
    try {
      await net.request('friend_request', { player_id: playerId });
      toast({ kind: 'friend', icon: 'friends', body: `Friend request sent to ${name(playerId)}.` });
    } catch (error) {
      report(error);
    }
    later('friends', 'suggestions');
  },

  async accept(playerId) {
    try {
      await net.request('friend_accept', { player_id: playerId });
    } catch (error) {
      report(error);
    }
    later('friends', 'suggestions');
  },

  async decline(playerId) {
    try {
      await net.request('friend_decline', { player_id: playerId });
      toast({ kind: 'info', body: `Declined ${name(playerId)}'s request.` });
    } catch (error) {
      report(error);
    }
    later('friends');
  },

  visit(friendId) {
    window.location.hash = `#visit/${friendId}`;
  },

  async loadMoreFeed() {
    if (state.feed.next === null) return;
    try {
      const r = await net.request('feed', { limit: 50, before: state.feed.next });
      state.feed.entries.push(...r.entries);
      state.feed.next = r.next;
    } catch (error) {
      report(error);
    }
    render();
  },
};

// ---------------------------------------------------------------------------------------
// Wiring the static page

function wire() {
  paintIcons();
  for (const hills of document.querySelectorAll('.scene-hills')) hills.innerHTML = meadowSvg();
  $('register-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('register-name');
    const wanted = input.value.trim();
    if (!wanted) return;
    try {
      const r = await net.request('register', { name: wanted });
      saveToken(r.token);
      await enterGame(r.player_id, wanted);
      toast({ kind: 'good', icon: 'sprout', title: `Welcome, ${wanted}!`, body: 'Your seed is planted. Your player id is #' + r.player_id + '.' });
    } catch (error) {
      const box = $('login-error');
      box.hidden = false;
      box.textContent = errorText({ ...error, op: 'register' });
    }
  });
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = $('login-token').value.trim();
    if (!token) return;
    try {
      const r = await net.request('login', { token });
      saveToken(token);
      await enterGame(r.player_id, r.name);
    } catch (error) {
      if (followRedirect(error, () => saveToken(token))) return;
      const box = $('login-error');
      box.hidden = false;
      box.textContent = errorText({ ...error, op: 'login' });
    }
  });
  $('collect-all').addEventListener('click', () => actions.collectAll());
  $('rain-start').addEventListener('click', () => rain.start());
  $('steps-form').addEventListener('submit', (event) => {
    event.preventDefault();
    actions.reportSteps($('steps').value);
  });
  $('add-friend').addEventListener('submit', (event) => {
    event.preventDefault();
    const raw = $('friend-id').value.trim().replace(/^#/, '');
    if (!/^\d+$/.test(raw)) {
      toast({ kind: 'bad', body: 'A player id is a number, like 42.' });
      return;
    }
    $('friend-id').value = '';
    actions.requestFriend(Number(raw));
  });
  $('feed-more').addEventListener('click', () => actions.loadMoreFeed());
  for (const button of $('board-period').querySelectorAll('button')) {
    button.addEventListener('click', () => {
      state.board.period = button.dataset.period;
      refresh('board');
    });
  }
  $('unfriend').addEventListener('click', (event) => {
    const friendId = state.visit.friendId;
    twoStep(event.currentTarget, `Really remove ${name(friendId)}?`, async () => {
      try {
        await net.request('unfriend', { player_id: friendId });
        window.location.hash = '#friends';
      } catch (error) {
        report(error);
      }
      later('friends');
    });
  });
  const menu = $('me-menu');
  $('me-button').addEventListener('click', () => {
    menu.hidden = !menu.hidden;
    $('me-button').setAttribute('aria-expanded', String(!menu.hidden));
  });
  document.addEventListener('click', (event) => {
    if (!menu.hidden && !event.target.closest('.me-chip')) menu.hidden = true;
  });
  $('copy-token').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(state.token ?? '');
      toast({ kind: 'good', body: 'Token copied.', ttl: 2000 });
    } catch {
      window.getSelection()?.selectAllChildren($('me-token'));
      toast({ kind: 'info', body: 'Select the token and copy it.', ttl: 3000 });
    }
  });
  $('logout').addEventListener('click', () => {
    forgetToken();
    window.location.hash = '';
    window.location.reload();
  });
  window.addEventListener('hashchange', route);

  // Once a second: countdowns, the reconnect countdown, balls that ripened on a running clock.
  let ripeSignature = '';
  setInterval(() => {
    views.tickCountdowns(clock.now());
    if (state.connection.state === 'waiting') paintConnection();
    const balls = state.view === 'visit' ? state.visit.balls : state.balls;
    const signature = balls.map((b) => (isRipe(b) ? '1' : '0')).join('');
    if (signature !== ripeSignature) {
      ripeSignature = signature;
      render();
    }
  }, 1000);
  setInterval(() => {
    if (state.loggedIn && net.online) syncClock().catch(() => {});
  }, PING_EVERY_MS);
}

wire();
net.start();
// For the end-to-end test and the curious: the state, read-only by convention.
window.canopy = { state, clock };
