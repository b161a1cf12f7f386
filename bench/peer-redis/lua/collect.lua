-- collect(player, ball_id): the owner picks one ripe ball (energy.rs `collect`).
-- Returns {'ok', grams, energy} or {CODE}.
local player, id = ARGV[1], ARGV[2]
local ball, gone = live_ball(id)
if not ball then
  return { gone }
end
if ball.o ~= player then
  return { 'NOT_YOURS' }
end
if ball.r > now then
  return { 'NOT_RIPE' }
end
record_flow('collected', ball.l, 'ball:' .. id, 'balance:' .. player)
end_ball(id, player)
local energy = credit_balance(player, ball.l, true)
-- state::end_ball: a ripe, stealable ball leaving changes what friends could steal.
if ball.w then
  announce_stealable(player)
end
announce_forest(player)
return { 'ok', ball.l, energy }
