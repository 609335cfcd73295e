-- Unseat a connection (leave, or disconnect with the presence grace): its user leaves
-- with its last connection, at once or when the grace ends.
-- KEYS: presence keys (7), this node's connections in the room
-- ARGV: room, sid, ts, grace ms (0 = none)
-- Returns false, or {name_json, 'stay'|'linger'|'gone', deadline, connections the node
-- still holds in the room}.
local conns = KEYS[8]
local room, sid, ts, grace = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local user = redis.call('HGET', conns, sid)
if not user then return false end
redis.call('HDEL', conns, sid)
local left_here = redis.call('HLEN', conns)
local name_json, state, deadline = unseat(KEYS, room, user, ts, grace, sid)
if not name_json then return false end
return {name_json, state, deadline, left_here}
