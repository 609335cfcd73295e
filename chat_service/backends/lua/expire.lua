-- A lingering user's grace is over: it leaves unless a connection came back meanwhile.
-- KEYS: presence keys (7)
-- ARGV: room, user, now ms
-- Returns 1 when the user left.
local room, user, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local member = room .. '\n' .. user
local deadline = redis.call('ZSCORE', KEYS[6], member)
if not deadline or tonumber(deadline) > now then return 0 end
redis.call('ZREM', KEYS[6], member)
if tonumber(redis.call('HGET', KEYS[4], user) or '0') > 0 then return 0 end
if remove_user(KEYS, room, user, now, '') then return 1 end
return 0
