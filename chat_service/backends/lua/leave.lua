-- Unseat a connection (leave, or disconnect with the presence grace): its user leaves
-- with its last connection, at once or when the grace ends.
-- KEYS: presence keys (7), node seats
-- ARGV: room, sid, ts, grace ms (0 = none)
-- Returns false, or {name_json, 'stay'|'linger'|'gone', deadline}.
local nodeseats = KEYS[8]
local room, sid, ts, grace = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local field = room .. '\n' .. sid
local user = redis.call('HGET', nodeseats, field)
if not user then return false end
redis.call('HDEL', nodeseats, field)
local name_json, state, deadline = unseat(KEYS, room, user, ts, grace, sid)
if not name_json then return false end
return {name_json, state, deadline}
