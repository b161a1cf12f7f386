// Everything the page says in words: error messages for every protocol code, event and
// feed lines, numbers, durations.

/** A human message for every error code of the protocol (and two of the page's own). */
export const ERROR_MESSAGES = {
  BAD_REQUEST: "The server couldn't make sense of that request.",
  UNSUPPORTED_VERSION: 'This page speaks a protocol version the server does not. Reload the page.',
  UNAUTHENTICATED: 'You are not logged in, or your saved login is unknown to this server.',
  FORBIDDEN: "You're not allowed to do that.",
  NOT_FOUND: "That doesn't exist.",
  NOT_YOURS: 'That energy ball belongs to someone else.',
  NOT_FRIENDS: 'You need to be friends for that.',
  BLOCKED: 'One of you has blocked the other.',
  NOT_RIPE: "That ball isn't ripe yet — wait for its countdown.",
  GONE: 'Too late: that ball was already collected or has expired.',
  PROTECTED: 'A protection cover guards this forest — no stealing for now.',
  ALREADY_STOLEN: "You've already taken your share of this ball.",
  NOTHING_LEFT: 'Nothing left to take: the owner keeps the last 30 % of every ball.',
  INSUFFICIENT_ENERGY: "You don't have enough energy for that.",
  INSUFFICIENT_VITALITY: 'Not enough vitality for that yet: collect energy to earn more.',
  ALREADY_REVIVED: 'Another friend already revived that energy.',
  LIMIT_REACHED: "You've reached a limit — try again tomorrow.",
  CONFLICT: "That's already done or already pending.",
  RATE_LIMITED: 'Whoa, slow down! Too many taps at once — try again in a moment.',
  OVERLOADED: 'The forest is very busy right now. Please try again shortly.',
  SHUTTING_DOWN: "The server is restarting. Hang on, we'll reconnect.",
  INTERNAL: 'Something went wrong on the server. Please try again.',
  RISK_DENIED: 'That looked like abnormal activity, so it was refused. If this is a mistake, contact support.',
  BUDGET_EXHAUSTED: "That task's budget is spent: it has closed.",
  NOT_ACCEPTED: 'Accept the task first.',
  NOT_ELIGIBLE: "That isn't open to you yet (a task outside your audience, or a rain chance before you played a round).",
  OUTSIDE_WINDOW: "That isn't running right now: the task's window or the rain round is over.",
  BAD_TIMING: "That tap arrived too late for the server's clock — the connection is slow.",
  OFF_SCREEN: 'Missed: that ball was no longer falling.',
  TASK_CLOSED: 'That task is paused or closed.',
  SHARD_TIMEOUT: "Your friend's server is slow to answer; it will still happen once it does.",
  WRONG_SHARD: 'Your forest lives on another server of this cluster. Open the game there to log in.',
  OFFLINE: "You're offline — reconnecting to the forest…",
  TIMEOUT: "The server didn't answer in time. Please try again.",
};

/** Sharper wording where the op tells more than the code alone. */
const OP_MESSAGES = {
  register: { BAD_REQUEST: 'Names are 1–32 letters, digits, _ or - (Chinese characters are fine).' },
  login: { UNAUTHENTICATED: 'That token is not known to this server.' },
  friend_request: {
    BAD_REQUEST: "That's not a player id you can send a request to (is it your own?).",
    NOT_FOUND: 'No player has that id.',
    CONFLICT: "You're already friends, or a request is already pending.",
    LIMIT_REACHED: 'Your friend list is full.',
  },
  friend_accept: { NOT_FOUND: 'That request is no longer pending.', LIMIT_REACHED: 'Your friend list is full.' },
  collect: { NOT_FOUND: 'That ball does not exist.' },
  steal: {
    NOT_FOUND: 'That ball does not exist.',
    GONE: 'Too late: that ball is already gone.',
    LIMIT_REACHED: "You've taken all you may today (1,500 g a day).",
  },
  help_collect: { NOT_FOUND: 'That ball does not exist.', GONE: 'Too late: that ball is already gone.' },
  water: {
    LIMIT_REACHED: "You've already watered this friend 3 times today.",
    INSUFFICIENT_ENERGY: "You don't have that much energy to give.",
    BAD_REQUEST: 'You can water 10, 18, 33 or 66 g.',
  },
  plant: { INSUFFICIENT_ENERGY: 'Not enough energy for that tree yet.', NOT_FOUND: 'No such species.' },
  use_prop: { NOT_FOUND: "You don't have that prop." },
  revive: {
    OUTSIDE_WINDOW: 'That energy can be revived only in the 24 hours after it expires.',
    GONE: 'That energy can no longer be revived.',
    LIMIT_REACHED: "You've revived all you may today.",
  },
  task_accept: { NOT_FOUND: 'That task no longer exists.' },
};

/** The message for a failed request (a ProtocolError or anything thrown). */
export function errorText(error) {
  const code = error?.code;
  if (!code) return ERROR_MESSAGES.INTERNAL;
  return OP_MESSAGES[error.op]?.[code] ?? ERROR_MESSAGES[code] ?? `Error ${code}.`;
}

const numbers = new Intl.NumberFormat('en');

/** `1,234 g` */
export function grams(n) {
  return `${numbers.format(n ?? 0)} g`;
}

/** `31h 04m`, `12m 05s`, `8s` */
export function countdown(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (v) => String(v).padStart(2, '0');
  if (h >= 48) return `${Math.floor(h / 24)}d ${h % 24}h`;
  if (h > 0) return `${h}h ${two(m)}m`;
  if (m > 0) return `${m}m ${two(sec)}s`;
  return `${sec}s`;
}

/** `just now`, `5 min ago`, `3 h ago`, `2 days ago` (against the game clock). */
export function ago(time, now) {
  const s = Math.max(0, Math.round((now - time) / 1000));
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  const days = Math.round(s / 86_400);
  return days === 1 ? 'yesterday' : `${days} days ago`;
}

/** A date and time for tooltips and certificates. */
export function dateTime(ms) {
  return new Date(ms).toLocaleString('en', { dateStyle: 'medium', timeStyle: 'short' });
}

export function date(ms) {
  return new Date(ms).toLocaleDateString('en', { dateStyle: 'long' });
}

const SOURCES = {
  walk: 'Walking',
  offline_payment: 'Offline payment',
  metro: 'Metro ride',
  bus: 'Bus ride',
  e_invoice: 'E-invoice',
  etc_toll: 'ETC toll',
  utility_bill: 'Utility bill',
  online_ticket: 'Online ticket',
  train_ticket: 'Train ticket',
  hospital_booking: 'Hospital booking',
  water: 'Watering',
  task: 'Task reward',
};

/** `Metro ride` for `metro`; unknown kinds are prettified. */
export function sourceLabel(source) {
  return SOURCES[source] ?? String(source).replaceAll('_', ' ');
}

export const STAGES = {
  seed: 'Seed',
  sprout: 'Sprout',
  sapling: 'Sapling',
  tree: 'Tree',
};

export const PROPS = {
  protection_cover: { name: 'Protection cover', blurb: 'Friends cannot steal from you for 24 h.' },
  double_click: { name: 'Double-click card', blurb: "Hit each friend's ball twice for 24 h." },
  time_accelerator: { name: 'Time accelerator', blurb: 'All your unripe balls ripen now.' },
  stealth: { name: 'Stealth', blurb: 'Your steals show as "someone" for 24 h.' },
};

/** A task's reward in words: grams, or props (`{prop, count}`) for a prop reward. */
export function rewardText(gramsReward, prop) {
  return prop ? `${PROPS[prop.prop]?.name ?? prop.prop} ×${prop.count}` : grams(gramsReward);
}

/**
 * The note under a list (friends, leaderboard) that could not read some players because
 * their server did not answer (cluster mode's `unavailable`); '' when every player was
 * read. `name(id)` gives a display name.
 */
export function unavailableNote(players, name) {
  if (!players || players.length === 0) return '';
  const who = players.map((id) => name(id)).join(', ');
  return `Not shown: ${who} — their server did not answer. Try again in a moment.`;
}

/**
 * One line of the feed, from the point of view of `me`. `name(id)` gives a display name
 * (`null` ids are players hidden by stealth).
 */
export function feedLine(entry, me, name) {
  const who = (id, capital) => {
    if (id === null || id === undefined) return capital ? 'Someone' : 'someone';
    if (id === me) return capital ? 'You' : 'you';
    return name(id);
  };
  const g = grams(entry.grams);
  switch (entry.kind) {
    case 'stolen':
      return `${who(entry.actor, true)} stole ${g} from ${who(entry.target, false)}`;
    case 'watered':
      return `${who(entry.actor, true)} watered ${who(entry.target, false)} with ${g}`;
    case 'helped':
      return `${who(entry.actor, true)} collected ${g} for ${who(entry.target, false)}`;
    case 'protected_block':
      return entry.target === me
        ? `Your cover stopped ${who(entry.actor, false)} from stealing`
        : `${who(entry.target, true)}'s cover stopped ${who(entry.actor, false)}`;
    case 'certificate':
      return entry.target === me
        ? `You planted a tree (${g}) and earned a certificate`
        : `${who(entry.target, true)} planted a tree (${g})`;
    default:
      return `${entry.kind} (${g})`;
  }
}
