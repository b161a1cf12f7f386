// The operators' risk review page (/review): the review queue over the ops HTTP of the
// server that serves it, with a reviewer or admin token kept for this tab only
// (sessionStorage). It lists flags with their evidence, releases or confirms them, and
// shows or starts the graph analysis. In a cluster it lists every shard's flags
// ("every shard", on by default: `cluster=true`, which a server alone answers with its
// own; off, this shard's only, say while another shard is down) and reviews any of them
// from here, since the serving shard forwards a review to the flag's shard. See
// docs/RISK.md.

const TOKEN_KEY = 'canopy.review.token';
const $ = (id) => document.getElementById(id);

/** An element with attributes (`on` for listeners, `data` for data-*) and children. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'on') for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else if (key === 'data') Object.assign(el.dataset, value);
    else el.setAttribute(key, value);
  }
  el.append(...children.filter((child) => child !== null && child !== undefined));
  return el;
}

function say(text) {
  $('message').hidden = !text;
  $('message').textContent = text;
}

/** An ops call with the token; its JSON, or an Error with the server's code and message. */
async function call(method, path) {
  const response = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ''}` },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new Error(body?.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`);
  }
  return body;
}

const when = (ms) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';

function evidence(flag) {
  const items = Object.entries(flag.evidence.numbers).flatMap(([name, value]) => [
    h('dt', {}, name),
    h('dd', {}, String(Math.round(value * 1000) / 1000)),
  ]);
  if (flag.evidence.players.length) items.push(h('dt', {}, 'players'), h('dd', {}, flag.evidence.players.map((p) => `#${p}`).join(', ')));
  if (flag.evidence.balls.length) items.push(h('dt', {}, 'balls'), h('dd', {}, flag.evidence.balls.map((b) => `#${b}`).join(', ')));
  items.push(h('dt', {}, 'hits'), h('dd', {}, String(flag.hits)));
  return h('details', {}, h('summary', {}, flag.reason), h('dl', {}, ...items));
}

async function review(flag, verb) {
  try {
    await call('POST', `/admin/risk/flags/${flag.id}/${verb}`);
    say('');
    await loadFlags();
  } catch (error) {
    say(error.message);
  }
}

function row(flag) {
  const actions = flag.status === 'open'
    ? h('td', {},
      h('button', { type: 'button', data: { action: 'release' }, on: { click: () => review(flag, 'release') } }, 'Release'),
      ' ',
      h('button', { type: 'button', data: { action: 'confirm' }, on: { click: () => review(flag, 'confirm') } }, 'Confirm'))
    : h('td', {});
  return h('tr', { class: 'flag', data: { flagId: String(flag.id), status: flag.status, rule: flag.rule, player: String(flag.player_id) } },
    h('td', {}, `#${flag.id}`),
    h('td', { class: 'status' }, flag.status),
    h('td', {}, `#${flag.player_id}`),
    h('td', {}, flag.rule),
    h('td', {}, flag.decision),
    h('td', {}, `${flag.held} g`),
    h('td', {}, when(flag.created_at)),
    h('td', {}, evidence(flag)),
    actions);
}

async function loadFlags() {
  const query = new URLSearchParams();
  if ($('status').value !== 'all') query.set('status', $('status').value);
  const player = $('player').value.trim();
  if (player) query.set('player_id', player);
  if ($('cluster').checked) query.set('cluster', 'true');
  try {
    const list = await call('GET', `/admin/risk/flags?${query}`);
    $('flags').replaceChildren(...list.flags.map(row));
    $('count').textContent = `${list.flags.length} flag${list.flags.length === 1 ? '' : 's'}`;
    document.body.dataset.loaded = 'flags';
    say('');
  } catch (error) {
    $('flags').replaceChildren();
    $('count').textContent = '';
    say(error.message);
  }
}

async function loadGraph() {
  try {
    const report = await call('GET', '/admin/risk/graph');
    const findings = [...report.rings, ...report.dense_blocks, ...report.stars];
    $('graph-summary').textContent = report.ran_at === 0
      ? 'No analysis has run yet.'
      : `${when(report.ran_at)}: ${report.flows} flows between ${report.players} players in ${report.took_ms} ms; ${findings.length} finding${findings.length === 1 ? '' : 's'}.`;
    $('graph-findings').replaceChildren(...findings.map((f) =>
      h('li', {}, `${f.rule}: ${f.reason} (${f.players.map((p) => `#${p}`).join(', ')})`)));
  } catch (error) {
    say(error.message);
  }
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value);
  $('token').value = '';
  loadFlags();
  loadGraph();
});
$('filter-form').addEventListener('submit', (event) => {
  event.preventDefault();
  loadFlags();
});
$('graph-refresh').addEventListener('click', loadGraph);
$('graph-run').addEventListener('click', async () => {
  try {
    await call('POST', '/admin/risk/graph/run');
    say('');
  } catch (error) {
    say(error.message);
  }
});
if (sessionStorage.getItem(TOKEN_KEY)) {
  loadFlags();
  loadGraph();
}
