-- Leave a room: release the name and publish user_left to the remaining members.
-- KEYS: meta, members, rooms, node_members, channel
-- ARGV: room, sid, ts
local meta, members, rooms, nodemem, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local room, sid, ts = ARGV[1], ARGV[2], ARGV[3]
local field = room .. '\n' .. sid
local key = redis.call('HGET', nodemem, field)
if not key then return false end
redis.call('HDEL', nodemem, field)
local rec = redis.call('HGET', members, key)
if not rec then return false end
local _, rsid, name = string.match(rec, '^([^\n]*)\n([^\n]*)\n(.*)$')
if rsid ~= sid then return false end
redis.call('HDEL', members, key)
local count = redis.call('HLEN', members)
if count > 0 then redis.call('ZADD', rooms, count, room) else redis.call('ZREM', rooms, room) end
local epoch = redis.call('HGET', meta, 'epoch') or ''
local payload = '{"room":' .. cjson.encode(room) .. ',"name":' .. cjson.encode(name) ..
  ',"ts":' .. ts .. '}'
redis.call('PUBLISH', channel, 'user_left\n' .. epoch .. '\n0\n' .. sid .. '\n' .. payload)
return name
