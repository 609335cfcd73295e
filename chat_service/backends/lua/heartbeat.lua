-- Mark a node alive. Returns 1 if it was still registered, 0 if it had been reaped
-- (or Redis lost its data), so the node knows its members are gone.
-- KEYS: nodes, alive
-- ARGV: node, ttl ms
local known = redis.call('SISMEMBER', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return known
