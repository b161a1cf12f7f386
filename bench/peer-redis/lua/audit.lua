-- audit(players): the conservation identity over the whole store, after a run (it reads
-- everything: an operator's tool). Returns {created, balances, in_balls, live balls,
-- ledger entries, problems} where problems counts balls whose full amount is not
-- left + stolen.
local players = tonumber(ARGV[1])
local balances, in_balls, balls, problems = 0, 0, 0, 0
for player = 1, players do
  balances = balances + tonumber(redis.call('HGET', 'p:' .. player, 'e') or '0')
  local fields = redis.call('HGETALL', 'pb:' .. player)
  for i = 1, #fields, 2 do
    local ball = unpack_ball(player, fields[i], fields[i + 1])
    balls = balls + 1
    in_balls = in_balls + ball.l
    if ball.f ~= ball.l + ball.s then
      problems = problems + 1
    end
  end
end
local created = tonumber(redis.call('HGET', 'totals', 'created') or '0')
return { created, balances, in_balls, balls, redis.call('XLEN', 'ledger'), problems }
