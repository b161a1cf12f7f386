// The game socket: one WebSocket speaking Canopy's JSON protocol (docs/PROTOCOL.md).
// Requests are matched to replies by `id`; events are handed to `onEvent`. When the
// socket drops (a server restart, a network blip) it reconnects with exponential backoff
// and calls `onOpen` again, where the app logs back in.

/**
 * A failed request: `code` is a protocol error code, or `OFFLINE` / `TIMEOUT` here;
 * `redirect` the shard to log in at instead, with a cluster's `WRONG_SHARD`.
 */
export class ProtocolError extends Error {
  constructor(code, message, op, redirect = null) {
    super(message || code);
    this.code = code;
    this.op = op;
    this.redirect = redirect;
  }
}

/** The game socket a cluster's `WRONG_SHARD` sends the client to, or null. */
export function shardRedirect(error) {
  const url = error?.code === 'WRONG_SHARD' ? error.redirect : null;
  return typeof url === 'string' && /^wss?:\/\//.test(url) ? url : null;
}

/** Backoff before reconnect attempt n (0-based): 0.5 s doubling to 10 s, with jitter. */
export function backoffMs(attempt) {
  const base = Math.min(10_000, 500 * 2 ** attempt);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

const REQUEST_TIMEOUT_MS = 15_000;

/** The game socket's URL: `?ws=` if given, else port 7878 on the page's host. */
export function gameSocketUrl(location) {
  const override = new URLSearchParams(location.search).get('ws');
  if (override) return override;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  // `hostname` keeps an IPv6 address in its brackets.
  return `${scheme}://${location.hostname || '127.0.0.1'}:7878/ws`;
}

export class GameSocket {
  /**
   * @param {string} url  ws:// or wss:// URL of the game socket
   * @param {{onOpen: () => Promise<void>|void, onEvent: (e: object) => void,
   *          onStatus: (status: {state: string, retryAt?: number}) => void}} hooks
   */
  constructor(url, hooks) {
    this.url = url;
    this.hooks = hooks;
    this.socket = null;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, timer, op}
    this.attempt = 0;
    this.retryTimer = null;
    this.stopped = false;
  }

  get online() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.hooks.onStatus({ state: 'connecting' });
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (err) {
      this.hooks.onStatus({ state: 'offline', detail: String(err) });
      return;
    }
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.attempt = 0;
      this.hooks.onStatus({ state: 'online' });
      Promise.resolve(this.hooks.onOpen()).catch((err) => console.error('onOpen failed', err));
    });
    socket.addEventListener('message', (message) => this.receive(message.data));
    socket.addEventListener('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.failPending();
      if (this.stopped) return;
      const delay = backoffMs(this.attempt++);
      this.hooks.onStatus({ state: 'waiting', retryAt: Date.now() + delay });
      this.retryTimer = setTimeout(() => this.connect(), delay);
    });
  }

  /**
   * Moves to another game socket now (a cluster's redirect to the player's shard):
   * requests in flight fail, and `onOpen` runs again once connected there.
   */
  moveTo(url) {
    this.url = url;
    this.attempt = 0;
    const old = this.socket;
    this.socket = null;
    this.failPending();
    old?.close(1000);
    if (!this.stopped) this.connect();
  }

  /** Reconnect now instead of waiting out the backoff. */
  retryNow() {
    if (this.socket === null && !this.stopped) this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.close(1000);
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      console.warn('ignoring a frame that is not JSON', data);
      return;
    }
    if (typeof frame.event === 'string') {
      this.hooks.onEvent(frame);
      return;
    }
    const waiter = this.pending.get(frame.id);
    if (!waiter) {
      if (frame.ok === false) console.warn('server error without a request', frame.error);
      return;
    }
    this.pending.delete(frame.id);
    clearTimeout(waiter.timer);
    if (frame.ok) {
      const { id: _id, ok: _ok, ...result } = frame;
      waiter.resolve(result);
    } else {
      const error = frame.error ?? {};
      waiter.reject(new ProtocolError(error.code ?? 'INTERNAL', error.message, waiter.op, error.redirect ?? null));
    }
  }

  /** Sends `{id, op, ...fields}`; resolves with the reply's result fields. */
  request(op, fields = {}) {
    if (!this.online) {
      return Promise.reject(new ProtocolError('OFFLINE', 'not connected', op));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError('TIMEOUT', 'no reply in time', op));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, op });
      this.socket.send(JSON.stringify({ id, op, ...fields }));
    });
  }

  failPending() {
    for (const [id, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      waiter.reject(new ProtocolError('OFFLINE', 'connection lost', waiter.op));
      this.pending.delete(id);
    }
  }
}

/**
 * The game clock as the page sees it. The server's `time` (from `hello` and `ping`) is
 * game time, which a test server may hold still (manual clock): between syncs the page
 * extrapolates with the wall clock only while the server's clock is seen to move.
 */
export class GameClock {
  constructor() {
    this.serverTime = null;
    this.wallAtSync = 0;
    this.running = true;
  }

  sync(serverTime) {
    const wall = Date.now();
    if (this.serverTime !== null) {
      const wallElapsed = wall - this.wallAtSync;
      const gameElapsed = serverTime - this.serverTime;
      if (wallElapsed > 2_000) this.running = gameElapsed >= wallElapsed / 2;
    }
    this.serverTime = serverTime;
    this.wallAtSync = wall;
  }

  now() {
    if (this.serverTime === null) return Date.now();
    return this.serverTime + (this.running ? Date.now() - this.wallAtSync : 0);
  }
}
