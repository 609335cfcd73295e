-- Put back a live connection's seat after Redis lost it (restarted empty, or this node
-- was declared dead): the user keeps its name and nobody is told anything.
-- KEYS: presence keys (7), node seats
-- ARGV: room, user, name record, name key, sid
-- Returns 'ok', or 'taken' when another user holds the name now.
local nodeseats = KEYS[8]
local room, user, record, nk, sid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local field = room .. '\n' .. sid
if redis.call('HGET', nodeseats, field) == user and redis.call('HEXISTS', KEYS[3], user) == 1 then
  return 'ok'
end
if redis.call('HEXISTS', KEYS[3], user) == 1 then
  add_seat(KEYS, room, user)
elseif not claim_name(KEYS, room, user, nk, record) then
  return 'taken'
end
redis.call('HSET', nodeseats, field, user)
return 'ok'
