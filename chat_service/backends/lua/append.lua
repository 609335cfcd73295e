-- Append a message: next id, keep it, trim, publish. Publication order is id order.
-- A client_id already stored for this room and sender returns the first message
-- instead, in the same step: no window in which a retry stores twice.
-- KEYS: meta, history, channel, sent, sent_at
-- ARGV: epoch candidate, message body (wire.message_body), history size, idle ttl ms,
--       dedupe field ('' = none), ts, dedupe ms, dedupe max per room
local meta, hist, channel, sent, sent_at = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local candidate, body, size, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local dedupe, ts, keep, cap = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
if dedupe ~= '' then
  local old = redis.call('ZRANGEBYSCORE', sent_at, '-inf', ts - keep, 'LIMIT', 0, 64)
  if #old > 0 then
    redis.call('HDEL', sent, unpack(old))
    redis.call('ZREM', sent_at, unpack(old))
  end
  local first = redis.call('HGET', sent, dedupe)
  if first then return {0, first} end
end
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = candidate
  redis.call('HSET', meta, 'epoch', epoch)
end
local id = redis.call('HINCRBY', meta, 'seq', 1)
local msg = '{"id":' .. id .. ',' .. body .. ',"epoch":"' .. epoch .. '"}'
redis.call('RPUSH', hist, msg)
redis.call('LTRIM', hist, -size, -1)
redis.call('PEXPIRE', hist, ttl)
redis.call('PEXPIRE', meta, ttl)
if dedupe ~= '' then
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
redis.call('PUBLISH', channel, 'message\n' .. epoch .. '\n' .. id .. '\n\n' .. msg)
return {1, msg}
