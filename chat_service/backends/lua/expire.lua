-- Lingering users of one room whose grace is over leave, unless a connection came back.
-- KEYS: presence keys (7)
-- ARGV: room, now ms
-- Returns {users who left, the next deadline in the room or -1}.
local room, now = ARGV[1], tonumber(ARGV[2])
local left = 0
for _, user in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 500)) do
  redis.call('ZREM', KEYS[5], user)
  if tonumber(redis.call('HGET', KEYS[4], user) or '0') <= 0 then
    if remove_user(KEYS, room, user, now, '') then left = left + 1 end
  end
end
local nxt = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
if #nxt == 0 then return {left, -1} end
return {left, tonumber(nxt[2])}
