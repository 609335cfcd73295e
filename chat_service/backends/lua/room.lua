-- Shared by join (prepended when loaded; append.lua does the same inline, in fewer
-- calls). A new epoch is a new history: whatever an older one left behind (a room
-- partly expired or evicted) is deleted with it, so ids, changes and read positions of
-- two epochs never mix. Every call refreshes the room's idle expiry.
local function room_epoch(meta, candidate, ttl, stale)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    epoch = candidate
    redis.call('DEL', unpack(stale))
    redis.call('HDEL', meta, 'seq')
    redis.call('HSET', meta, 'epoch', epoch)
  end
  redis.call('PEXPIRE', meta, ttl)
  return epoch
end
