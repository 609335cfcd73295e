-- A user's read position in a room: only forward, never past the newest id. With
-- `publish`, a move (or, for position -1, the position as it is) is published as
-- `read` in the same step, so `read` events of a user never go backwards. Position -1
-- (a coalesced announcement, sent by a timer) publishes only while the user still holds
-- its name in the room: a user that left or was kicked meanwhile is announced no more.
-- KEYS: meta, reads, channel, users
-- ARGV: room, user, name json, position (-1 = publish the current one), publish (0/1),
--       idle ttl ms
-- Returns {'ok', position, moved (0/1)} or {'out_of_range', newest id}.
local meta, reads, channel, users = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local room, user, name_json = ARGV[1], ARGV[2], ARGV[3]
local pos, publish, ttl = tonumber(ARGV[4]), ARGV[5] == '1', tonumber(ARGV[6])
local seq = tonumber(redis.call('HGET', meta, 'seq') or '0')
if pos > seq then return {'out_of_range', seq} end
local stored = redis.call('HGET', reads, user)
local current = tonumber(stored or '0')
local moved = 0
if pos > current then
  redis.call('HSET', reads, user, pos)
  redis.call('PEXPIRE', reads, ttl)
  current, moved = pos, 1
end
local present = pos >= 0 or redis.call('HEXISTS', users, user) == 1
if publish and present and (moved == 1 or (pos < 0 and stored)) then
  local epoch = redis.call('HGET', meta, 'epoch') or ''
  redis.call(PUBLISH, channel, 'read\n' .. epoch .. '\n0\n\n{"room":"' .. room ..
    '","name":' .. name_json .. ',"last_read":' .. current .. '}')
end
return {'ok', current, moved}
