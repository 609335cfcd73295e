-- Join: seat the connection under its user's name, read members and history, announce
-- the user's first connection. One script, so no other node can take the name between.
-- KEYS: presence keys (7), history, this node's connections in the room, changed,
--       reactions, bans
-- ARGV: room, user, name record, name key, sid, since (-1 = none), epoch given ('' = none),
--       default history n, epoch candidate, ts, idle ttl ms
local K = KEYS
local hist, conns, changed = KEYS[8], KEYS[9], KEYS[10]
local room, user, record, nk, sid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local since, given, default_n, candidate, ts =
  tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10]

-- A ban in force refuses the seat, in the same step that would grant it.
local ban = redis.call('HGET', KEYS[12], user)
local ban_until = ban and tonumber(string.match(ban, '^(-?%d+)\n'))
if ban_until and (ban_until < 0 or ban_until > tonumber(ts)) then return {'banned', ban_until} end

local ttl = tonumber(ARGV[11])
local epoch = room_epoch(K[1], candidate, {hist, changed, K[11], K[7]})
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
local len = redis.call('LLEN', hist)
local items
if since >= 0 and reset == 0 then
  local want = seq - since
  if want > len then want = len end
  if want > 0 then items = redis.call('LRANGE', hist, -want, -1) else items = {} end
else
  items = redis.call('LRANGE', hist, -default_n, -1)
end

-- What changed among the messages the client already has: their current state.
local updated = {}
if since >= 0 and reset == 0 then
  local first = seq - len + 1
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', changed, first, since)) do
    table.insert(updated, redis.call('LINDEX', hist, tonumber(id) - first))
  end
end

-- The name records as stored (user, name JSON): the node strips the users. A Lua loop over
-- a room of 1,000 was most of a join's cost in Redis, which every node shares.
local names = redis.call('HVALS', K[2])
-- Read positions: the joiner's own, and those of the members that have one (walking
-- the smaller of the two hashes).
local last_read = tonumber(redis.call('HGET', K[7], holder) or '0')
local reads = {}
local function add_read(u, nk_of_u, pos)
  local rec = nk_of_u and redis.call('HGET', K[2], nk_of_u)
  if rec and pos then
    table.insert(reads, record_name_json(rec))
    table.insert(reads, tonumber(pos))
  end
end
if redis.call('HLEN', K[7]) <= redis.call('HLEN', K[3]) then
  local all = redis.call('HGETALL', K[7])
  for i = 1, #all, 2 do add_read(all[i], redis.call('HGET', K[3], all[i]), all[i + 1]) end
else
  local all = redis.call('HGETALL', K[3])
  for i = 1, #all, 2 do add_read(all[i], all[i + 1], redis.call('HGET', K[7], all[i])) end
end
-- A room people come to is in use: its history, changes and read positions live on
-- with its meta, even while nobody writes (after the seat: see room.lua on memory).
touch({K[1], hist, changed, K[11], K[7]}, ttl)
return {'ok', epoch, seq, seated, announced, record_name_json(held), names, items, reset,
  updated, last_read, reads}
