-- me(player): the profile and the unpicked balls, soonest to ripen first (energy.rs
-- `me`). Returns {'ok', name, energy, total_collected, tree, protected_until, n, then per
-- ball: id, amount, stolen, stealable, created_at, ripe_at, expires_at, source}.
local player = ARGV[1]
local p = redis.call('HMGET', 'p:' .. player, 'n', 'e', 't', 'cov')
if not p[1] then
  return { 'NOT_FOUND' }
end
local energy = tonumber(p[2])
local cover = tonumber(p[4] or '0')
if cover <= now then
  cover = 0
end
local balls = by_ripening(owned_balls(player))
local reply = { 'ok', p[1], energy, tonumber(p[3]), tree_stage(energy), cover, #balls }
for _, ball in ipairs(balls) do
  local n = #reply
  reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = ball.id, ball.l, ball.s, view_stealable(ball)
  reply[n + 5], reply[n + 6], reply[n + 7], reply[n + 8] = ball.c, ball.r, ball.x, ball.src
end
return reply
