-- Shared by join (prepended when loaded; append.lua does the same inline, in fewer
-- calls). A new epoch is a new history: whatever an older one left behind (a room
-- partly expired or evicted) is deleted with it, so ids, changes and read positions of
-- two epochs never mix.
--
-- Out of memory: Redis refuses a script's command that may grow memory (HSET, RPUSH,
-- HINCRBY, ...) only while the script has written nothing yet; after a first write that
-- cannot (PEXPIRE, DEL, HDEL) it lets the rest through. So a script that stores must
-- make such a command its first write, and refresh expiries (`touch`) and prune after.
local function room_epoch(meta, candidate, stale)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    epoch = candidate
    redis.call('HSET', meta, 'epoch', epoch)  -- the first write: refused when Redis is full
    redis.call('DEL', unpack(stale))
    redis.call('HDEL', meta, 'seq')
  end
  return epoch
end

-- The room is in use: its keys live on for the idle expiry from now.
local function touch(keys, ttl)
  for _, key in ipairs(keys) do redis.call('PEXPIRE', key, ttl) end
end
