-- friends(player): each friend with what the caller could steal from them now
-- (friends.rs `list`). Returns {'ok', n, then per friend: id, name, energy,
-- total_collected, stealable_grams, protected_until}.
local player = ARGV[1]
if not player_exists(player) then
  return { 'NOT_FOUND' }
end
local allowed = hits_allowed(player)
local ids = redis.call('SMEMBERS', 'f:' .. player)
table.sort(ids, function(a, b)
  return tonumber(a) < tonumber(b)
end)
local reply = { 'ok', #ids }
for _, friend in ipairs(ids) do
  local p = redis.call('HMGET', 'p:' .. friend, 'n', 'e', 't', 'cov')
  local cover = tonumber(p[4] or '0')
  local grams = 0
  -- stealable::stealable_from: nothing to take from a friend under a cover.
  if cover <= now then
    cover = 0
    grams = stealable_sum(friend, player, allowed)
  end
  local n = #reply
  reply[n + 1], reply[n + 2], reply[n + 3] = tonumber(friend), p[1], tonumber(p[2])
  reply[n + 4], reply[n + 5], reply[n + 6] = tonumber(p[3]), grams, cover
end
return reply
