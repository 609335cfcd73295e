-- Shared by every script that seats or unseats a connection (prepended when loaded).
-- K: meta, names, users, seats, lingering, channel, reads (keys.presence_keys order): all
-- keys of one room, so a script runs in one Cluster slot. PUBLISH is 'PUBLISH', or 'SPUBLISH'
-- on Redis Cluster (set by the loader, redis.load_script).
-- A name record is user .. '\n' .. name_json (wire.name_record): presence payloads are
-- concatenated from it, so they match wire.presence_payload byte for byte.

local function record_user(rec) return string.match(rec, '^([^\n]*)\n') end
local function record_name_json(rec) return string.match(rec, '^[^\n]*\n(.*)$') end

local function presence_json(room, name_json, ts)
  return '{"room":"' .. room .. '","name":' .. name_json .. ',"ts":' .. ts .. '}'
end

local function publish_presence(K, kind, room, skip, name_json, ts)
  local epoch = redis.call('HGET', K[1], 'epoch') or ''
  redis.call(PUBLISH, K[6],
    kind .. '\n' .. epoch .. '\n0\n' .. skip .. '\n' .. presence_json(room, name_json, ts))
end

-- The user's last connection is gone and its grace (if any) is over: free the name.
-- `skip`: the connection that left by itself (it is told by its reply), or ''.
local function remove_user(K, room, user, ts, skip)
  local nk = redis.call('HGET', K[3], user)
  if not nk then return nil end
  local rec = redis.call('HGET', K[2], nk)
  redis.call('HDEL', K[3], user)
  redis.call('HDEL', K[4], user)
  redis.call('ZREM', K[5], user)
  -- A connection without a key (users.user_for_connection) never comes back: its read
  -- position goes with it.
  if string.sub(user, 1, 1) == 'c' then redis.call('HDEL', K[7], user) end
  local name_json = '""'
  if rec then
    name_json = record_name_json(rec)
    if record_user(rec) == user then redis.call('HDEL', K[2], nk) end
  end
  publish_presence(K, 'user_left', room, skip, name_json, ts)
  return name_json
end

-- One connection of `user` leaves: returns name_json, 'stay'|'linger'|'gone', deadline.
local function unseat(K, room, user, ts, grace, skip)
  local nk = redis.call('HGET', K[3], user)
  if not nk then return nil end
  local rec = redis.call('HGET', K[2], nk)
  local name_json = rec and record_name_json(rec) or '""'
  local left = redis.call('HINCRBY', K[4], user, -1)
  if left > 0 then return name_json, 'stay', 0 end
  if left < 0 then redis.call('HSET', K[4], user, 0) end
  if grace > 0 then
    local deadline = ts + grace
    redis.call('ZADD', K[5], deadline, user)
    return name_json, 'linger', deadline
  end
  remove_user(K, room, user, ts, skip)
  return name_json, 'gone', 0
end

-- One more connection for a user that already holds a name here (a tab, a reconnect,
-- a connection restored after Redis lost its data): it stops lingering, nobody is told.
local function add_seat(K, room, user)
  local n = redis.call('HINCRBY', K[4], user, 1)
  if n <= 1 then
    redis.call('HSET', K[4], user, 1)
    redis.call('ZREM', K[5], user)
  end
end

-- A user takes a free name: false when another user holds it.
local function claim_name(K, room, user, nk, record)
  if redis.call('HEXISTS', K[2], nk) == 1 then return false end
  redis.call('HSET', K[2], nk, record)
  redis.call('HSET', K[3], user, nk)
  redis.call('HSET', K[4], user, 1)
  return true
end
