-- Join: seat the connection under its user's name, read members and history, announce
-- the user's first connection. One script, so no other node can take the name between.
-- KEYS: presence keys (6), history, this node's connections in the room, bans
-- ARGV: room, user, name record, name key, sid, since (-1 = none), epoch given ('' = none),
--       default history n, epoch candidate, ts
local K = KEYS
local hist, conns = KEYS[7], KEYS[8]
local room, user, record, nk, sid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local since, given, default_n, candidate, ts =
  tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10]

-- A ban in force refuses the seat, in the same step that would grant it.
local ban = redis.call('HGET', KEYS[9], user)
local ban_until = ban and tonumber(string.match(ban, '^(-?%d+)\n'))
if ban_until and (ban_until < 0 or ban_until > tonumber(ts)) then return {'banned', ban_until} end

local epoch = redis.call('HGET', K[1], 'epoch')
if not epoch then
  epoch = candidate
  redis.call('HSET', K[1], 'epoch', epoch)
end
local seq = tonumber(redis.call('HGET', K[1], 'seq') or '0')

local seated_user = redis.call('HGET', conns, sid)
local seated, announced = 0, 0
local holder = user
if seated_user and redis.call('HEXISTS', K[3], seated_user) == 1 then
  holder = seated_user  -- this connection is already in: an idempotent join
else
  if redis.call('HEXISTS', K[3], user) == 1 then
    add_seat(K, room, user)
  else
    if not claim_name(K, room, user, nk, record) then return {'taken'} end
    announced = 1
    publish_presence(K, 'user_joined', room, sid, record_name_json(record), ts)
  end
  redis.call('HSET', conns, sid, user)
  seated = 1
end
local held = redis.call('HGET', K[2], redis.call('HGET', K[3], holder))

local reset = 0
if since >= 0 then
  if given ~= '' then
    if given ~= epoch then reset = 1 end
  elseif since > seq then
    reset = 1
  end
end
local items
if since >= 0 and reset == 0 then
  local want = seq - since
  local len = redis.call('LLEN', hist)
  if want > len then want = len end
  if want > 0 then items = redis.call('LRANGE', hist, -want, -1) else items = {} end
else
  items = redis.call('LRANGE', hist, -default_n, -1)
end

local names = {}
for _, rec in ipairs(redis.call('HVALS', K[2])) do
  table.insert(names, record_name_json(rec))
end
return {'ok', epoch, seq, seated, announced, record_name_json(held), names, items, reset}
