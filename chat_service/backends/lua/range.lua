-- Kept messages with after < id < before, newest `limit` of them, oldest first; and,
-- when asked, every kept message with v > 0 (a feed's way to recover missed changes).
-- Ids in the history list are consecutive (only append.lua adds to it), so positions
-- follow from the newest id and the list length.
-- KEYS: meta, history, changed
-- ARGV: after (-1 = none), before (-1 = none), limit (-1 = all), with changed (0/1)
-- Returns {epoch, messages, changed messages}.
local meta, hist, changed = KEYS[1], KEYS[2], KEYS[3]
local after, before, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local epoch = redis.call('HGET', meta, 'epoch') or ''
local seq = tonumber(redis.call('HGET', meta, 'seq') or '0')
local len = redis.call('LLEN', hist)
local first = seq - len + 1
local updated = {}
if ARGV[4] == '1' then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', changed, first, seq)) do
    table.insert(updated, redis.call('LINDEX', hist, tonumber(id) - first))
  end
end
local upper = seq
if before >= 0 and before - 1 < upper then upper = before - 1 end
local lower = first
if after >= 0 and after + 1 > lower then lower = after + 1 end
if limit >= 0 and upper - limit + 1 > lower then lower = upper - limit + 1 end
if upper < lower then return {epoch, {}, updated} end
return {epoch, redis.call('LRANGE', hist, lower - first, upper - first), updated}
