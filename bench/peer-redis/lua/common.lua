-- Shared by every script (prepended when the script is loaded). The numbers are the
-- defaults of Canopy's assets/canopy.toml; the functions mirror server/src/game/
-- (rules.rs, state.rs, stealable.rs, feed.rs) and are named after them.
--
-- Keys (standalone Redis; scripts build key names from the ids in ARGV). Each player's
-- balls are packed into one hash, so reading a friend's balls is one HGETALL:
--   clock              the game time in ms (a manual clock: it only moves when set)
--   next_ball          the highest ball id handed out (INCR for a new ball)
--   totals             hash: ledger totals by flow (created, collected, stolen, watered)
--   ledger             stream: one entry per move of grams (t, flow, g, from, to)
--   p:<id>             hash: n name, e energy, t total collected, wk week, wkc grams
--                      collected that week, cov / dbl / stl prop ends (ms)
--   f:<id>             set: friends
--   pb:<id>            hash: the player's live balls, ball id -> "full left stolen
--                      created ripe expires stealable(1/0) source ,thief:hits,..."
--   bo                 hash: live ball id -> owner
--   lim:<id>           hash: d game day, st grams stolen that day, w<friend> waterings
--   feed:<id>          list: the last 500 feed entries, newest first
--   wf                 set: players with a session watching their friends list
--   fw:<owner>         set: players with a session watching owner's forest
--   ev                 pub/sub channel: every event, "<player> <json>" (JSON as Canopy's);
--                      the gateway (or the bare load generator) reads it and hands each
--                      event to that player's sessions
--
-- `wf` and `fw:<owner>` are written by whoever holds the sessions (the gateway, or the
-- bare load generator), so the scripts push about other players only to players that
-- watch, as Canopy does (docs/PROTOCOL.md, "Watching").

local DAY_MS = 86400000
local UTC_OFFSET_MS = 480 * 60000
local MIN_SHARE, MAX_SHARE, OWNER_KEEPS = 0.10, 0.30, 0.30
local STEAL_DAILY_CAP = 1500
local WATER_AMOUNTS = { [10] = true, [18] = true, [33] = true, [66] = true }
local WATER_PER_FRIEND_PER_DAY = 3
local BALL_TTL_MS = 72 * 3600000
local FEED_KEPT = 500
local SEED_BELOW, SPROUT_BELOW, CHEAPEST_SPECIES = 1000, 5000, 16930

local now = tonumber(redis.call('GET', 'clock'))

-- rules::game_day and rules::week_key.
local function game_day(t)
  return math.floor((t + UTC_OFFSET_MS) / DAY_MS)
end
local function week_key(day)
  return math.floor((day + 3) / 7)
end

-- A packed ball as a table; `thief`'s hits on it are read from its thieves list.
local function unpack_ball(owner, id, packed, thief)
  local f, l, st, c, r, x, w, src, thieves =
    string.match(packed, '^(%d+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d) (%S+) (%S+)$')
  local hits = 0
  if thief then
    hits = tonumber(string.match(thieves, ',' .. thief .. ':(%d+),') or '0')
  end
  return {
    id = tonumber(id), o = owner, f = tonumber(f), l = tonumber(l), s = tonumber(st),
    c = tonumber(c), r = tonumber(r), x = tonumber(x), w = w == '1', src = src,
    thieves = thieves, hits = hits,
  }
end

local function pack_ball(ball)
  return ball.f .. ' ' .. ball.l .. ' ' .. ball.s .. ' ' .. ball.c .. ' ' .. ball.r .. ' '
    .. ball.x .. ' ' .. (ball.w and '1' or '0') .. ' ' .. ball.src .. ' ' .. ball.thieves
end

-- Stores a new or changed ball.
local function save_ball(ball)
  redis.call('HSET', 'pb:' .. ball.o, ball.id, pack_ball(ball))
  redis.call('HSET', 'bo', ball.id, ball.o)
end

-- state::live_ball: the ball, or GONE (ended or past its lifetime) / NOT_FOUND.
local function live_ball(id, thief)
  local owner = redis.call('HGET', 'bo', id)
  if owner then
    local ball = unpack_ball(owner, id, redis.call('HGET', 'pb:' .. owner, id), thief)
    if ball.x > now then
      return ball
    end
    return nil, 'GONE'
  end
  local n = tonumber(id)
  if n and n >= 1 and n <= tonumber(redis.call('GET', 'next_ball')) then
    return nil, 'GONE'
  end
  return nil, 'NOT_FOUND'
end

-- rules::stealable_grams: thieves take at most 1 - OWNER_KEEPS of the full amount.
local function stealable_grams(ball)
  local share = math.floor(ball.f * (1 - OWNER_KEEPS) * (1 + 1e-12))
  return math.max(0, math.min(share - ball.s, ball.l))
end

-- views::ball_view's `stealable`: what any friend could still take.
local function view_stealable(ball)
  if ball.w and ball.r <= now then
    return stealable_grams(ball)
  end
  return 0
end

-- stealable::ball_stealable_for: what `thief` could take (before the daily cap).
local function stealable_for(ball, thief, allowed)
  if not ball.w or ball.r > now or ball.o == thief or ball.hits >= allowed then
    return 0
  end
  return stealable_grams(ball)
end

-- Whether a timed prop (cov, dbl, stl) of a player is in effect.
local function prop_active(player, prop)
  local until_ms = redis.call('HGET', 'p:' .. player, prop)
  return until_ms and tonumber(until_ms) > now
end

-- stealable::hits_allowed: one hit per ball, two under a double-click card.
local function hits_allowed(thief)
  if prop_active(thief, 'dbl') then
    return 2
  end
  return 1
end

-- The id others see for an act: none under a stealth card.
local function visible_actor(player)
  if prop_active(player, 'stl') then
    return nil
  end
  return player
end

local function json_id(id)
  if id then
    return id
  end
  return 'null'
end

-- The player's live balls (lifetime not over), in no particular order.
local function owned_balls(player, thief)
  local balls = {}
  local fields = redis.call('HGETALL', 'pb:' .. player)
  for i = 1, #fields, 2 do
    local ball = unpack_ball(player, fields[i], fields[i + 1], thief)
    if ball.x > now then
      balls[#balls + 1] = ball
    end
  end
  return balls
end

-- stealable::stealable_from without building tables: what `thief` could take from all
-- of `owner`'s live balls (the caller checks the cover).
local function stealable_sum(owner, thief, allowed)
  local grams = 0
  local fields = redis.call('HGETALL', 'pb:' .. owner)
  local mark = ',' .. thief .. ':(%d+),'
  for i = 2, #fields, 2 do
    local f, l, st, r, x, w, thieves =
      string.match(fields[i], '^(%d+) (%d+) (%d+) %d+ (%d+) (%d+) (%d) %S+ (%S+)$')
    if w == '1' and tonumber(x) > now and tonumber(r) <= now and owner ~= thief
      and tonumber(string.match(thieves, mark) or '0') < allowed then
      local share = math.floor(tonumber(f) * (1 - OWNER_KEEPS) * (1 + 1e-12))
      grams = grams + math.max(0, math.min(share - tonumber(st), tonumber(l)))
    end
  end
  return grams
end

-- Soonest to ripen first, as Canopy lists balls.
local function by_ripening(balls)
  table.sort(balls, function(a, b)
    if a.r ~= b.r then
      return a.r < b.r
    end
    return a.id < b.id
  end)
  return balls
end

-- state::record_flow: one ledger entry, and the flow's total.
local function record_flow(flow, grams, from, to)
  redis.call('XADD', 'ledger', '*', 't', now, 'flow', flow, 'g', grams, 'from', from, 'to', to)
  redis.call('HINCRBY', 'totals', flow, grams)
end

-- state::credit_balance: adds to the balance and, for collected energy, to the totals.
local function credit_balance(player, grams, collected)
  local key = 'p:' .. player
  local energy = redis.call('HINCRBY', key, 'e', grams)
  if collected then
    redis.call('HINCRBY', key, 't', grams)
    local week = week_key(game_day(now))
    if tonumber(redis.call('HGET', key, 'wk') or '-1') ~= week then
      redis.call('HSET', key, 'wk', week, 'wkc', grams)
    else
      redis.call('HINCRBY', key, 'wkc', grams)
    end
  end
  return energy
end

-- state::end_ball: the ball leaves every index (its grams were moved by the caller).
local function end_ball(id, owner)
  redis.call('HDEL', 'pb:' .. owner, id)
  redis.call('HDEL', 'bo', id)
end

-- The daily limits (stolen grams, waterings) start again on a new game day.
local function roll_limits(player)
  local key = 'lim:' .. player
  local day = game_day(now)
  if tonumber(redis.call('HGET', key, 'd') or '-1') ~= day then
    redis.call('DEL', key)
    redis.call('HSET', key, 'd', day, 'st', 0)
  end
  return key
end

-- feed::append: the newest entry first, the last FEED_KEPT kept.
local function feed_append(player, kind, actor, target, grams)
  local key = 'feed:' .. player
  redis.call('LPUSH', key, now .. ' ' .. kind .. ' ' .. json_id(actor) .. ' ' .. target .. ' ' .. grams)
  redis.call('LTRIM', key, 0, FEED_KEPT - 1)
end

-- state::notify: the event, as Canopy's JSON, for the player, on the one events channel.
local function notify(player, json)
  redis.call('PUBLISH', 'ev', player .. ' ' .. json)
end

-- stealable::Offer::load: what `owner` offers thieves now, read once for all of their
-- friends: the grams still stealable from each live, ripe, stealable ball (nothing under
-- a cover), and whether any of those balls was hit already.
local function load_offer(owner)
  local offer = { balls = {}, hit = false }
  if prop_active(owner, 'cov') then
    return offer
  end
  local fields = redis.call('HGETALL', 'pb:' .. owner)
  for i = 1, #fields, 2 do
    local ball = unpack_ball(owner, fields[i], fields[i + 1])
    if ball.w and ball.r <= now and ball.x > now then
      local grams = stealable_grams(ball)
      if grams > 0 then
        offer.balls[#offer.balls + 1] = { grams = grams, thieves = ball.thieves }
        offer.hit = offer.hit or ball.thieves ~= ','
      end
    end
  end
  return offer
end

-- stealable::Offer::grams_for: what `thief` could take from the offer. With no hits on
-- any ball, every thief is below the one hit everybody has and their props are not read.
local function offer_grams(offer, thief)
  if not offer.hit then
    local grams = 0
    for _, ball in ipairs(offer.balls) do
      grams = grams + ball.grams
    end
    return grams
  end
  local allowed = hits_allowed(thief)
  local mark = ',' .. thief .. ':(%d+),'
  local grams = 0
  for _, ball in ipairs(offer.balls) do
    if tonumber(string.match(ball.thieves, mark) or '0') < allowed then
      grams = grams + ball.grams
    end
  end
  return grams
end

-- stealable::announce_stealable for one owner whose stealable energy changed: every
-- friend watching their friends list or the owner's forest hears what they could steal
-- from the owner now, one `friend_stealable` line each (once for a friend watching both).
-- The gateway keeps a session's last line per owner and write batch, as Canopy sends at
-- most one per watching session, owner and batch.
local function announce_stealable(owner)
  local friends = 'f:' .. owner
  local watchers = redis.call('SINTER', friends, 'wf')
  local seen = {}
  for _, friend in ipairs(watchers) do
    seen[friend] = true
  end
  for _, friend in ipairs(redis.call('SINTER', friends, 'fw:' .. owner)) do
    if not seen[friend] then
      watchers[#watchers + 1] = friend
    end
  end
  if #watchers == 0 then
    return
  end
  local offer = load_offer(owner)
  for _, friend in ipairs(watchers) do
    notify(friend, '{"event":"friend_stealable","friend_id":' .. owner .. ',"grams":'
      .. offer_grams(offer, friend) .. '}')
  end
end

local function player_exists(player)
  return redis.call('EXISTS', 'p:' .. player) == 1
end

local function are_friends(a, b)
  return a ~= b and redis.call('SISMEMBER', 'f:' .. a, b) == 1
end

-- A ball as Canopy's JSON (model::BallView), `stealable` from the viewer's side.
local function ball_json(ball, stealable)
  return '{"ball_id":' .. ball.id .. ',"owner":' .. ball.o .. ',"source":"' .. ball.src
    .. '","amount":' .. ball.l .. ',"created_at":' .. ball.c .. ',"ripe_at":' .. ball.r
    .. ',"expires_at":' .. ball.x .. ',"stolen":' .. ball.s .. ',"stealable":' .. stealable .. '}'
end

-- The forest watch: every friend watching `owner`'s forest gets `forest_changed` with
-- the owner's balls as `friend_balls` lists them for that friend. The owner's balls are
-- read once; the gateway keeps the last one per session and write batch.
local function announce_forest(owner)
  local viewers = redis.call('SMEMBERS', 'fw:' .. owner)
  if #viewers == 0 then
    return
  end
  local protected = prop_active(owner, 'cov')
  local balls = by_ripening(owned_balls(owner))
  for _, viewer in ipairs(viewers) do
    if are_friends(viewer, owner) then
      local allowed = hits_allowed(viewer)
      local mark = ',' .. viewer .. ':(%d+),'
      local parts, total = {}, 0
      for i, ball in ipairs(balls) do
        ball.hits = tonumber(string.match(ball.thieves, mark) or '0')
        local stealable = 0
        if not protected then
          stealable = stealable_for(ball, viewer, allowed)
        end
        total = total + stealable
        parts[i] = ball_json(ball, stealable)
      end
      notify(viewer, '{"event":"forest_changed","owner_id":' .. owner .. ',"stealable_grams":'
        .. total .. ',"balls":[' .. table.concat(parts, ',') .. ']}')
    end
  end
end

-- rules::tree_stage.
local function tree_stage(energy)
  if energy < SEED_BELOW then
    return 'seed'
  elseif energy < SPROUT_BELOW then
    return 'sprout'
  elseif energy < CHEAPEST_SPECIES then
    return 'sapling'
  end
  return 'tree'
end
