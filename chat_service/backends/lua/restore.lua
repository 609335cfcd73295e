-- Put back a live connection's seat after Redis lost it (restarted empty, or this node
-- was declared dead): the user keeps its name and nobody is told anything.
-- KEYS: presence keys (7), this node's connections in the room
-- ARGV: room, user, name record, name key, sid
-- Returns 'ok', or 'taken' when another user holds the name now.
local conns = KEYS[8]
local room, user, record, nk, sid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HGET', conns, sid) == user and redis.call('HEXISTS', KEYS[3], user) == 1 then
  return 'ok'
end
if redis.call('HEXISTS', KEYS[3], user) == 1 then
  add_seat(KEYS, room, user)
elseif not claim_name(KEYS, room, user, nk, record) then
  return 'taken'
end
redis.call('HSET', conns, sid, user)
return 'ok'
