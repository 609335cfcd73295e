-- Append a message: next id, keep it, trim, publish. Publication order is id order.
-- KEYS: meta, history, channel
-- ARGV: epoch_candidate, message tail (JSON after the id), history size, idle ttl ms
local meta, hist, channel = KEYS[1], KEYS[2], KEYS[3]
local candidate, tail, size, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = candidate
  redis.call('HSET', meta, 'epoch', epoch)
end
local id = redis.call('HINCRBY', meta, 'seq', 1)
local msg = '{"id":' .. id .. ',' .. tail
redis.call('RPUSH', hist, msg)
redis.call('LTRIM', hist, -size, -1)
redis.call('PEXPIRE', hist, ttl)
redis.call('PEXPIRE', meta, ttl)
redis.call('PUBLISH', channel, 'message\n' .. epoch .. '\n' .. id .. '\n\n' .. msg)
return {id, epoch}
