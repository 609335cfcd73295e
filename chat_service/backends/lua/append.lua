-- Append a message: next id, keep it, trim, publish. Publication order is id order.
-- A client_id already stored for this room and user returns the first message (in its
-- current state) instead, in the same step and before any other check: no window in
-- which a retry stores twice.
-- KEYS: meta, history, channel, sent, sent_at, reactions, changed, reads
-- ARGV: epoch candidate, message body (wire.message_body), history size, idle ttl ms,
--       dedupe field ('' = none), ts, dedupe ms, dedupe max per room, user, reply_to (0 = none)
-- Returns {1, msg} stored, {0, first} a repeat, {-1, ''} reply_to is no kept live message.
local meta, hist, channel, sent, sent_at = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local candidate, body, size, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local dedupe, ts, keep, cap = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local user, reply_to = ARGV[9], tonumber(ARGV[10])
-- Reads first, writes after; the first write may grow memory (see room.lua).
if dedupe ~= '' then
  local first = redis.call('HGET', sent, dedupe)
  if first and tonumber(redis.call('ZSCORE', sent_at, dedupe) or ts) > ts - keep then
    return {0, first}
  end
end
if reply_to > 0 then
  local seq = tonumber(redis.call('HGET', meta, 'seq') or '0')
  local first_id = seq - redis.call('LLEN', hist) + 1
  if reply_to < first_id or reply_to > seq then return {-1, ''} end
  local target = redis.call('LINDEX', hist, reply_to - first_id)
  if string.find(target, ',"deleted":true,"epoch":', 1, true) then return {-1, ''} end
end
local epoch = room_epoch(meta, candidate, {hist, KEYS[6], KEYS[7], KEYS[8]})
local id = redis.call('HINCRBY', meta, 'seq', 1)
local msg = '{"id":' .. id .. ',"v":0,' .. body .. ',"epoch":"' .. epoch .. '"}'
redis.call('RPUSH', hist, msg)
redis.call('LTRIM', hist, -size, -1)
-- The kept messages' reactions and changes live as long as the messages do.
touch({meta, hist, KEYS[6], KEYS[7]}, ttl)
-- The sender's user, for edits and deletions (meta field a<id>, expiring with meta).
-- Authors of messages that left the window are dropped 32 at a time.
redis.call('HSET', meta, 'a' .. id, user)
local gone = id - size
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
  redis.call('ZADD', sent_at, ts, dedupe)
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
