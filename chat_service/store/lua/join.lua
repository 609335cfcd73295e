-- Join a room: claim the name, record the member, read members and history, publish
-- user_joined. One script, so no other node can claim the same name in between.
-- KEYS: meta, history, members, rooms, node_members, channel
-- ARGV: room, name, name_key, sid, node, since (-1 = none), default_n, epoch_candidate, ts
local meta, hist, members, rooms, nodemem, channel =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local room, name, key, sid, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local since, default_n, candidate, ts = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9]

local function record_name(rec)
  local _, _, rname = string.match(rec, '^([^\n]*)\n([^\n]*)\n(.*)$')
  return rname
end

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = candidate
  redis.call('HSET', meta, 'epoch', epoch)
end
local seq = tonumber(redis.call('HGET', meta, 'seq') or '0')

local field = room .. '\n' .. sid
local held = redis.call('HGET', nodemem, field)
local joined = 1
local held_name = name
if held then
  local rec = redis.call('HGET', members, held)
  if rec and string.find(rec, '\n' .. sid .. '\n', 1, true) then
    joined = 0
    held_name = record_name(rec)
  else
    redis.call('HDEL', nodemem, field)
  end
end

if joined == 1 then
  if redis.call('HEXISTS', members, key) == 1 then
    return {'taken'}
  end
  redis.call('HSET', members, key, node .. '\n' .. sid .. '\n' .. name)
  redis.call('HSET', nodemem, field, key)
  redis.call('ZADD', rooms, redis.call('HLEN', members), room)
  local payload = '{"room":' .. cjson.encode(room) .. ',"name":' .. cjson.encode(name) ..
    ',"ts":' .. ts .. '}'
  redis.call('PUBLISH', channel, 'user_joined\n' .. epoch .. '\n0\n' .. sid .. '\n' .. payload)
end

local items
if since >= 0 and since <= seq then
  local want = seq - since
  local len = redis.call('LLEN', hist)
  if want > len then want = len end
  if want > 0 then items = redis.call('LRANGE', hist, -want, -1) else items = {} end
else
  items = redis.call('LRANGE', hist, -default_n, -1)
end

local names = {}
for _, rec in ipairs(redis.call('HVALS', members)) do
  table.insert(names, record_name(rec))
end
return {'ok', epoch, seq, joined, held_name, names, items}
