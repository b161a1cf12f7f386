// Fast checks of the browser client without a browser: its pure helpers, and that it
// keeps up with the protocol and the server (every error code has a human message, every
// event is handled, every file of assets/web/ is embedded by the server).

import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const WEB = join(ROOT, 'assets', 'web');
const { ERROR_MESSAGES, errorText, countdown, feedLine, grams, unavailableNote } = await import(join(WEB, 'text.js'));
const { GameClock, GameSocket, ProtocolError, backoffMs, gameSocketUrl, shardRedirect } = await import(join(WEB, 'net.js'));

const snake = (name) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2');

/** The variant names of `pub enum <name>` in a Rust file. */
async function enumVariants(file, name) {
  const source = await readFile(join(ROOT, file), 'utf8');
  const body = source.slice(source.indexOf(`pub enum ${name} {`));
  const block = body.slice(0, body.indexOf('\n}\n'));
  return [...block.matchAll(/^ {4}([A-Z][A-Za-z]+)\b/gm)].map((m) => m[1]);
}

test('every protocol error code has a human message', async () => {
  const codes = (await enumVariants('shared/src/error.rs', 'ErrorCode')).map((v) => snake(v).toUpperCase());
  assert.ok(codes.length >= 20, `found ${codes.length} codes`);
  for (const code of codes) {
    assert.ok(ERROR_MESSAGES[code], `no message for ${code}`);
    assert.doesNotMatch(ERROR_MESSAGES[code], /[A-Z]{2,}_[A-Z]/, `${code}'s message shows a code`);
  }
  assert.equal(errorText({ code: 'LIMIT_REACHED', op: 'water' }), "You've already watered this friend 3 times today.");
  assert.equal(errorText({ code: 'LIMIT_REACHED', op: 'collect' }), ERROR_MESSAGES.LIMIT_REACHED);
  assert.equal(errorText({ code: 'SOMETHING_NEW' }), 'Error SOMETHING_NEW.');
});

test('every server event is handled by the page', async () => {
  const events = (await enumVariants('shared/src/event.rs', 'Event')).map((v) => snake(v).toLowerCase());
  assert.ok(events.includes('energy_stolen') && events.includes('server_shutdown'));
  const app = await readFile(join(WEB, 'app.js'), 'utf8');
  for (const event of events) assert.ok(app.includes(`case '${event}':`), `app.js does not handle ${event}`);
});

test('every file of assets/web/ is embedded and served by the server', async () => {
  const web = await readFile(join(ROOT, 'server/src/ops/web.rs'), 'utf8');
  const embedded = [...web.matchAll(/asset!\("([^"]+)"/g)].map((m) => m[1]).sort();
  const files = (await readdir(WEB)).sort();
  assert.deepEqual(embedded, files);
  // And the page's module imports stay among them.
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    const source = await readFile(join(WEB, file), 'utf8');
    for (const [, imported] of source.matchAll(/from '\.\/([^']+)'/g)) {
      assert.ok(files.includes(imported), `${file} imports ${imported}, which is not in assets/web/`);
    }
  }
});

test('the game socket URL defaults to port 7878 on the page host, ?ws= overrides it', () => {
  const at = (href) => {
    const url = new URL(href);
    return { search: url.search, protocol: url.protocol, hostname: url.hostname };
  };
  assert.equal(gameSocketUrl(at('http://127.0.0.1:7879/')), 'ws://127.0.0.1:7878/ws');
  assert.equal(gameSocketUrl(at('https://forest.example/')), 'wss://forest.example:7878/ws');
  assert.equal(gameSocketUrl(at('http://[::1]:7879/')), 'ws://[::1]:7878/ws');
  assert.equal(gameSocketUrl(at('http://h:7879/?ws=ws%3A%2F%2Fh%3A9000%2Fws')), 'ws://h:9000/ws');
});

test('reconnect backoff doubles from 0.5 s up to 10 s, with jitter', () => {
  for (let attempt = 0; attempt < 12; attempt += 1) {
    const base = Math.min(10_000, 500 * 2 ** attempt);
    const delay = backoffMs(attempt);
    assert.ok(delay >= base * 0.8 && delay <= base * 1.2, `attempt ${attempt}: ${delay} ms`);
  }
});

test('the game clock stands still between syncs when the server clock does (manual clock)', async (t) => {
  let wall = 1_000_000;
  t.mock.method(Date, 'now', () => wall);
  const clock = new GameClock();
  clock.sync(5_000);
  wall += 1_000;
  assert.equal(clock.now(), 6_000, 'extrapolates until it knows better');
  wall += 9_000;
  clock.sync(5_000); // 10 s of wall time, no game time: a manual clock
  wall += 3_000;
  assert.equal(clock.now(), 5_000);
  wall += 10_000;
  clock.sync(5_000 + 31 * 3_600_000); // the admin moved it
  assert.equal(clock.now(), 5_000 + 31 * 3_600_000);
});

test('countdowns, grams and feed lines read well', () => {
  assert.equal(countdown(31 * 3_600_000), '31h 00m');
  assert.equal(countdown(3_600_000 * 2 + 61_000), '2h 01m');
  assert.equal(countdown(125_000), '2m 05s');
  assert.equal(countdown(900), '1s');
  assert.equal(countdown(-5), '0s');
  assert.equal(countdown(50 * 3_600_000), '2d 2h');
  assert.equal(grams(17900), '17,900 g');
  const name = (id) => ({ 2: 'bob' })[id] ?? `player #${id}`;
  const line = (entry) => feedLine({ grams: 9, ...entry }, 1, name);
  assert.equal(line({ kind: 'stolen', actor: 2, target: 1 }), 'bob stole 9 g from you');
  assert.equal(line({ kind: 'stolen', actor: 1, target: 2 }), 'You stole 9 g from bob');
  assert.equal(line({ kind: 'stolen', actor: null, target: 1 }), 'Someone stole 9 g from you');
  assert.equal(line({ kind: 'watered', actor: 2, target: 1 }), 'bob watered you with 9 g');
  assert.equal(line({ kind: 'helped', actor: 2, target: 1 }), 'bob collected 9 g for you');
  assert.equal(line({ kind: 'protected_block', actor: 2, target: 1 }), 'Your cover stopped bob from stealing');
  assert.equal(line({ kind: 'certificate', actor: null, target: 1, grams: 17900 }), 'You planted a tree (17,900 g) and earned a certificate');
});

test('a WRONG_SHARD with a redirect moves the socket to the player\'s shard', () => {
  const error = (code, redirect) => new ProtocolError(code, 'm', 'login', redirect);
  assert.equal(shardRedirect(error('WRONG_SHARD', 'ws://b:1/ws')), 'ws://b:1/ws');
  assert.equal(shardRedirect(error('WRONG_SHARD', 'wss://b/ws')), 'wss://b/ws');
  assert.equal(shardRedirect(error('WRONG_SHARD', null)), null, 'a shard not yet in the map');
  assert.equal(shardRedirect(error('WRONG_SHARD', 'javascript:alert(1)')), null);
  assert.equal(shardRedirect(error('UNAUTHENTICATED', 'ws://b:1/ws')), null);

  // A socket that never opens on its own: the test sees which URLs were dialled.
  const dialled = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.closed = null;
      dialled.push(this);
    }
    addEventListener() {}
    close(code) {
      this.closed = code;
    }
  }
  const saved = globalThis.WebSocket;
  globalThis.WebSocket = FakeSocket;
  try {
    const net = new GameSocket('ws://a:1/ws', { onOpen() {}, onEvent() {}, onStatus() {} });
    net.start();
    net.moveTo('ws://b:1/ws');
    assert.deepEqual(dialled.map((socket) => socket.url), ['ws://a:1/ws', 'ws://b:1/ws']);
    assert.equal(dialled[0].closed, 1000, 'the old socket is closed');
    assert.equal(net.url, 'ws://b:1/ws', 'reconnects after a drop go to the new shard');
  } finally {
    globalThis.WebSocket = saved;
  }
});

test('a list names the friends whose server did not answer, and says nothing otherwise', () => {
  const name = (id) => ({ 2: 'bob' })[id] ?? `player #${id}`;
  assert.equal(unavailableNote([2, 3], name), 'Not shown: bob, player #3 — their server did not answer. Try again in a moment.');
  assert.equal(unavailableNote([], name), '');
  assert.equal(unavailableNote(undefined, name), '', 'a server without `unavailable` read everyone');
});
