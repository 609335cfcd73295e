-- Lift bans: each named user's, only if its record is still the one that was read (a
-- ban issued meanwhile stays).
-- KEYS: bans
-- ARGV: now ms, then user, record pairs
-- Returns how many bans were lifted.
local lifted = 0
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    lifted = lifted + 1
  end
end
settle_bans(KEYS[1], tonumber(ARGV[1]))
return lifted
