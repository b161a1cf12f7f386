-- friend_balls(player, friend): the friend's balls with `stealable` from the caller's
-- side (friends.rs `friend_balls`). Returns {'ok', n, then per ball: id, amount, stolen,
-- stealable, created_at, ripe_at, expires_at, source}.
local player, friend = ARGV[1], ARGV[2]
if not are_friends(player, friend) then
  return { 'NOT_FRIENDS' }
end
if not player_exists(friend) then
  return { 'NOT_FOUND' }
end
local protected = prop_active(friend, 'cov')
local allowed = hits_allowed(player)
local balls = by_ripening(owned_balls(friend, player))
local reply = { 'ok', #balls }
for _, ball in ipairs(balls) do
  local stealable = 0
  if not protected then
    stealable = stealable_for(ball, player, allowed)
  end
  local n = #reply
  reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = ball.id, ball.l, ball.s, stealable
  reply[n + 5], reply[n + 6], reply[n + 7], reply[n + 8] = ball.c, ball.r, ball.x, ball.src
end
return reply
