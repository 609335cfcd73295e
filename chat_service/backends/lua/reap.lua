-- Unseat one node's connections in one room, exactly once: a second reaper finds the
-- hash gone. The users linger for the presence grace like any disconnect. The reaper
-- (redis.py) calls this room by room, so no script spans two Cluster slots.
-- KEYS: presence keys (7), the node's connections in the room
-- ARGV: room, ts, grace ms
-- Returns {connections unseated, the room's earliest lingering deadline or -1}.
local conns = KEYS[8]
local room, ts, grace = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local entries = redis.call('HGETALL', conns)
local removed = 0
for i = 1, #entries, 2 do
  if unseat(KEYS, room, entries[i + 1], ts, grace, '') then removed = removed + 1 end
end
redis.call('DEL', conns)
local nxt = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
if #nxt == 0 then return {removed, -1} end
return {removed, tonumber(nxt[2])}
