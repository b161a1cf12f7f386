-- steal(thief, owner, ball_id): a random share of a friend's ripe ball
-- (transfers.rs `steal`; the checks in its order). Returns {'ok', grams, energy} or {CODE}.
local thief, owner, id = ARGV[1], ARGV[2], ARGV[3]
if not player_exists(thief) then
  return { 'NOT_FOUND' }
end
local limits = roll_limits(thief)
if not are_friends(thief, owner) then
  return { 'NOT_FRIENDS' }
end
local ball, gone = live_ball(id, thief)
if not ball then
  return { gone }
end
if ball.o ~= owner then
  return { 'NOT_FOUND' }
end
if ball.r > now then
  return { 'NOT_RIPE' }
end
if prop_active(owner, 'cov') then
  local by = visible_actor(thief)
  feed_append(owner, 'protected_block', by, owner, 0)
  notify(owner, '{"event":"protected_block","by":' .. json_id(by) .. '}')
  return { 'PROTECTED' }
end
if not ball.w then
  return { 'NOTHING_LEFT' }
end
local allowed = hits_allowed(thief)
if ball.hits >= allowed then
  return { 'ALREADY_STOLEN' }
end
local available = stealable_for(ball, thief, allowed)
if available == 0 then
  return { 'NOTHING_LEFT' }
end
local allowance = STEAL_DAILY_CAP - tonumber(redis.call('HGET', limits, 'st'))
if allowance <= 0 then
  return { 'LIMIT_REACHED' }
end
-- rules::steal_hit_grams with a uniform share in [MIN_SHARE, MAX_SHARE].
local share = MIN_SHARE + math.random() * (MAX_SHARE - MIN_SHARE)
local grams = math.min(math.max(math.floor(ball.f * share), 1), available, allowance)
record_flow('stolen', grams, 'ball:' .. id, 'balance:' .. thief)
if ball.l == grams then
  end_ball(id, owner)
else
  ball.l, ball.s = ball.l - grams, ball.s + grams
  if ball.hits == 0 then
    ball.thieves = ball.thieves .. thief .. ':1,'
  else
    ball.thieves = string.gsub(ball.thieves, ',' .. thief .. ':%d+,', ',' .. thief .. ':' .. (ball.hits + 1) .. ',')
  end
  redis.call('HSET', 'pb:' .. owner, id, pack_ball(ball))
end
redis.call('HINCRBY', limits, 'st', grams)
local energy = credit_balance(thief, grams, true)
local by = visible_actor(thief)
notify(owner, '{"event":"energy_stolen","by":' .. json_id(by) .. ',"ball_id":' .. id
  .. ',"grams":' .. grams .. '}')
feed_append(owner, 'stolen', by, owner, grams)
-- state::update_ball / end_ball: the stolen grams are gone for every friend.
announce_stealable(owner)
announce_forest(owner)
return { 'ok', grams, energy }
