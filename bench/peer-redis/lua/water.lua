-- water(giver, friend, grams): a friend gets a ripe, unstealable ball paid from the
-- giver's balance (transfers.rs `water`). Returns {'ok', energy, ball_id} or {CODE}.
local giver, friend, grams = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not WATER_AMOUNTS[grams] then
  return { 'BAD_REQUEST' }
end
if not player_exists(giver) then
  return { 'NOT_FOUND' }
end
local limits = roll_limits(giver)
if not are_friends(giver, friend) then
  return { 'NOT_FRIENDS' }
end
if not player_exists(friend) then
  return { 'NOT_FOUND' }
end
if tonumber(redis.call('HGET', 'p:' .. giver, 'e')) < grams then
  return { 'INSUFFICIENT_ENERGY' }
end
if tonumber(redis.call('HGET', limits, 'w' .. friend) or '0') >= WATER_PER_FRIEND_PER_DAY then
  return { 'LIMIT_REACHED' }
end
local energy = redis.call('HINCRBY', 'p:' .. giver, 'e', -grams)
redis.call('HINCRBY', limits, 'w' .. friend, 1)
local id = redis.call('INCR', 'next_ball')
local expires = now + BALL_TTL_MS
local ball = { id = id, o = friend, f = grams, l = grams, s = 0, c = now, r = now,
  x = expires, w = false, src = 'water', thieves = ',' }
save_ball(ball)
record_flow('watered', grams, 'balance:' .. giver, 'ball:' .. id)
local friend_energy = redis.call('HGET', 'p:' .. friend, 'e')
notify(friend, '{"event":"ball_new","ball":{"ball_id":' .. id .. ',"owner":' .. friend
  .. ',"source":"water","amount":' .. grams .. ',"created_at":' .. now .. ',"ripe_at":' .. now
  .. ',"expires_at":' .. expires .. ',"stolen":0,"stealable":0}}')
notify(friend, '{"event":"watered","by":' .. giver .. ',"grams":' .. grams .. ',"energy":'
  .. friend_energy .. '}')
feed_append(friend, 'watered', giver, friend, grams)
-- state::spawn_ball: a ball born ripe is announced to friends only if it is stealable
-- (a water ball never is, so this announces nothing; kept to mirror the rule).
if ball.w then
  announce_stealable(friend)
end
announce_forest(friend)
return { 'ok', energy, id }
