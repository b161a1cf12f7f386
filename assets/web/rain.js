// The energy rain (能量雨): the round the server drew, drawn as balls falling down their
// lanes on the game clock. A tap sends `rain_tap` with the clock's time; the server
// decides whether the ball was on screen and credits the grams when the round ends
// (`rain_ended`). The page never reports a total.

import { $, fill, h, toast } from './dom.js';
import { errorText, grams } from './text.js';

/** Whether `ball` is on screen `offset` ms into the round (as the server decides). */
export function onScreen(ball, offset) {
  return offset >= ball.appear_ms && offset <= ball.appear_ms + ball.fall_ms;
}

/** How far down its lane a ball is, 0 (top) to 1 (bottom). */
export function fallen(ball, offset) {
  return Math.min(1, Math.max(0, (offset - ball.appear_ms) / ball.fall_ms));
}

export class Rain {
  constructor(net, clock, syncClock) {
    this.net = net;
    this.clock = clock;
    this.syncClock = syncClock;
    this.round = null;
    this.caught = new Set();
    this.caughtGrams = 0;
    this.elements = new Map();
    this.frameId = null;
  }

  /** Redraws the card from `rain`; resumes a round in flight (after a reload). */
  async refresh() {
    const status = await this.net.request('rain');
    const left = status.rounds_left;
    $('rain-status').textContent = status.round
      ? 'A round is falling right now.'
      : `${left} ${left === 1 ? 'round' : 'rounds'} left today${status.gifts_left > 0 ? ` · ${status.gifts_left} chance to give a friend` : ''}.`;
    $('rain-start').disabled = left === 0 || status.round !== null;
    if (status.round && this.round?.round_id !== status.round.round_id) this.show(status.round);
  }

  async start() {
    $('rain-start').disabled = true;
    try {
      const started = await this.net.request('rain_start');
      await this.syncClock();
      this.show(started.round);
    } catch (error) {
      toast({ kind: 'danger', body: errorText(error) });
      await this.refresh().catch(() => {});
    }
  }

  show(round) {
    this.round = round;
    this.caught = new Set(round.caught);
    this.caughtGrams = round.balls.filter((b) => this.caught.has(b.ball)).reduce((sum, b) => sum + b.grams, 0);
    this.elements = new Map();
    const lanes = round.params.lanes;
    const balls = round.balls.map((ball) => {
      const el = h('button', {
        class: `rain-ball${ball.grams >= 6 ? ' big' : ''}`,
        type: 'button',
        hidden: true,
        'aria-label': `${grams(ball.grams)} of rain energy`,
        data: { ball: ball.ball, grams: ball.grams, lane: ball.lane },
        style: { left: `${((ball.lane + 0.5) * 100) / lanes}%` },
        on: { pointerdown: (event) => { event.preventDefault(); this.tap(ball, el); } },
      }, String(ball.grams));
      this.elements.set(ball.ball, el);
      return el;
    });
    fill($('rain-field'), ...balls);
    $('rain-result').hidden = true;
    $('rain').hidden = false;
    this.drawHud();
    cancelAnimationFrame(this.frameId);
    this.frameId = requestAnimationFrame(() => this.frame());
  }

  frame() {
    const round = this.round;
    if (!round) return;
    const now = this.clock.now();
    const offset = now - round.starts_at;
    const countdownEl = $('rain-countdown');
    if (offset < 0) countdownEl.textContent = `Ready… ${Math.ceil(-offset / 1000)}`;
    else if (now < round.ends_at) countdownEl.textContent = `${Math.ceil((round.ends_at - now) / 1000)} s`;
    else countdownEl.textContent = 'Time!';
    for (const ball of round.balls) {
      const el = this.elements.get(ball.ball);
      const visible = onScreen(ball, offset) && !this.caught.has(ball.ball);
      el.hidden = !visible;
      if (visible) el.style.top = `${(fallen(ball, offset) * 92).toFixed(2)}%`;
    }
    if (now < round.ends_at) this.frameId = requestAnimationFrame(() => this.frame());
  }

  drawHud() {
    const hud = $('rain-caught');
    hud.textContent = `${grams(this.caughtGrams)} caught`;
    hud.dataset.grams = String(this.caughtGrams);
    hud.dataset.balls = String(this.caught.size);
  }

  async tap(ball, el) {
    const round = this.round;
    if (!round || this.caught.has(ball.ball) || el.classList.contains('pending')) return;
    el.classList.add('pending');
    try {
      const r = await this.net.request('rain_tap', {
        round_id: round.round_id, ball: ball.ball, at: Math.round(this.clock.now()),
      });
      this.caught.add(ball.ball);
      this.caughtGrams = r.caught_grams;
      el.classList.add('caught');
      el.hidden = true;
      this.drawHud();
    } catch (error) {
      el.classList.add('missed');
      el.dataset.refused = error.code ?? 'ERROR';
    } finally {
      el.classList.remove('pending');
    }
  }

  /** The server settled a round: its grams are in the balance now. */
  ended(event) {
    if (this.round?.round_id !== event.round_id) return;
    cancelAnimationFrame(this.frameId);
    this.round = null;
    $('rain-countdown').textContent = 'Time!';
    const result = $('rain-result');
    result.textContent = `+${grams(event.grams)} from ${event.caught} ${event.caught === 1 ? 'ball' : 'balls'}`;
    result.dataset.grams = String(event.grams);
    result.hidden = false;
    setTimeout(() => {
      if (!this.round) $('rain').hidden = true;
    }, 2500);
    this.refresh().catch(() => {});
  }
}
