-- Remember a user's token sub in the room; the key lives as long as the longest-lived.
-- KEYS: subs
-- ARGV: user, sub JSON, ms to keep it
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
