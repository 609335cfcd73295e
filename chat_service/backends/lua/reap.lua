-- Unseat every connection of a node, exactly once: a second reaper finds its hash gone.
-- Its users linger for the presence grace like any disconnect. Without `force`, only a
-- node whose alive key has expired is reaped.
-- KEYS: node seats, nodes, alive, rooms, lingering
-- ARGV: prefix, node, ts, force ('1' or '0'), grace ms
local nodeseats, nodes, alive, rooms, lingering = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local prefix, node, ts, force, grace =
  ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
if force ~= '1' and redis.call('EXISTS', alive) == 1 then return -1 end
local entries = redis.call('HGETALL', nodeseats)
local removed = 0
for i = 1, #entries, 2 do
  local room = string.match(entries[i], '^([^\n]*)\n')
  local user = entries[i + 1]
  local base = prefix .. 'room:' .. room .. ':'
  local K = {base .. 'meta', base .. 'names', base .. 'users', base .. 'seats', rooms,
    lingering, base .. 'events'}
  if unseat(K, room, user, ts, grace, '') then removed = removed + 1 end
end
redis.call('DEL', nodeseats)
redis.call('SREM', nodes, node)
return removed
