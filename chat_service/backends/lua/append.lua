-- Append a message: next id, keep it, trim, publish. Publication order is id order.
-- A client_id already stored for this room and user returns the first message (in its
-- current state) instead, in the same step and before any other check: no window in
-- which a retry stores twice.
-- Every message is paid by the whole shard, so the common path is five calls: HMGET
-- (epoch, seq, last refresh), RPUSH, LPOP, HSET (seq, author), PUBLISH. The idle expiry
-- of meta, history, reactions and changes is renewed once ttl/64 of message time (at most a minute) has passed
-- since the last renewal, or at once for anything new or a clock behind: a room expires
-- at most that much earlier than ttl after its last message.
-- KEYS: meta, history, channel, sent, sent_at, reactions, changed, reads
-- ARGV: epoch candidate, message body (wire.message_body), history size, idle ttl ms,
--       dedupe field ('' = none), ts, dedupe ms, dedupe max per room, user, reply_to (0 = none)
-- Returns {1, msg} stored, {0, first} a repeat, {-1, ''} reply_to is no kept live message.
local meta, hist, channel, sent, sent_at = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
-- Numbers are parsed only where needed and the id is formatted once: each conversion
-- between a Lua number and a string is a strtod or printf, a visible part of the cost.
local candidate, body, size, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local dedupe, ts, user = ARGV[5], tonumber(ARGV[6]), ARGV[9]
local keep, cap
-- Reads first, writes after: the first write must be one that may grow memory, so a
-- full Redis refuses the whole script (see room.lua). Expired repeats are pruned below.
if dedupe ~= '' then
  keep, cap = tonumber(ARGV[7]), tonumber(ARGV[8])
  local first = redis.call('HGET', sent, dedupe)
  if first and tonumber(redis.call('ZSCORE', sent_at, dedupe) or ts) > ts - keep then
    return {0, first}
  end
end
local state = redis.call('HMGET', meta, 'epoch', 'seq', 'refreshed')
local epoch, seq, refreshed = state[1], tonumber(state[2] or '0'), tonumber(state[3] or '')
if ARGV[10] ~= '0' then
  local reply_to = tonumber(ARGV[10])
  local first_id = seq - redis.call('LLEN', hist) + 1
  if reply_to < first_id or reply_to > seq then return {-1, ''} end
  local target = redis.call('LINDEX', hist, reply_to - first_id)
  if string.find(target, ',"deleted":true,"epoch":', 1, true) then return {-1, ''} end
end
-- No epoch: a new history (see room.lua: nothing an older epoch left behind survives).
local fresh = not epoch
if fresh then
  epoch, seq = candidate, 0
  redis.call('HSET', meta, 'epoch', epoch)  -- first write: refused when Redis is full
  redis.call('DEL', hist, KEYS[6], KEYS[7], KEYS[8])
end
local n = seq + 1
local id = tostring(n)
local msg = '{"id":' .. id .. ',"v":0,' .. body .. ',"epoch":"' .. epoch .. '"}'
local kept = redis.call('RPUSH', hist, msg)
if kept == size + 1 then
  redis.call('LPOP', hist)
elseif kept > size then
  redis.call('LTRIM', hist, -size, -1)
end
-- The sender's user, for edits and deletions (meta field a<id>, expiring with meta).
-- On a renewal the HSET also writes epoch (new or not: one call either way).
if fresh or kept == 1 or not refreshed or ts < refreshed
    or ts - refreshed >= math.min(60000, math.floor(tonumber(ttl) / 64)) then
  redis.call('HSET', meta, 'epoch', epoch, 'seq', id, 'a' .. id, user, 'refreshed', ARGV[6])
  -- The kept messages' reactions and changes live as long as the messages do.
  for _, key in ipairs({meta, hist, KEYS[6], KEYS[7]}) do redis.call('PEXPIRE', key, ttl) end
else
  redis.call('HSET', meta, 'seq', id, 'a' .. id, user)
end
-- Authors of messages that left the window are dropped 32 at a time.
local gone = n - size
if gone > 0 and gone % 32 == 0 then
  local fields = {}
  for i = gone - 31, gone do fields[#fields + 1] = 'a' .. i end
  redis.call('HDEL', meta, unpack(fields))
end
if dedupe ~= '' then
  local old = redis.call('ZRANGEBYSCORE', sent_at, '-inf', ts - keep, 'LIMIT', 0, 64)
  if #old > 0 then
    redis.call('HDEL', sent, unpack(old))
    redis.call('ZREM', sent_at, unpack(old))
  end
  redis.call('HSET', sent, dedupe, msg)
  redis.call('ZADD', sent_at, ARGV[6], dedupe)
  if redis.call('ZCARD', sent_at) > cap then
    local oldest = redis.call('ZRANGE', sent_at, 0, 0)
    redis.call('HDEL', sent, oldest[1])
    redis.call('ZREM', sent_at, oldest[1])
  end
  redis.call('PEXPIRE', sent, keep + 60000)
  redis.call('PEXPIRE', sent_at, keep + 60000)
end
redis.call(PUBLISH, channel, 'message\n' .. epoch .. '\n' .. id .. '\n\n' .. msg)
return {1, msg}
