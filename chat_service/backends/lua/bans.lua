-- Shared by the scripts that write a room's bans (prepended when loaded).
-- A ban record is until .. '\n' .. json (wire.ban_record); until -1 lasts until unban.

local function ban_until_text(rec) return string.match(rec, '^(-?%d+)\n') end

-- Drop ended bans, then make the key expire with its last ban (never while one lasts
-- until unban), so a room nobody uses keeps only bans in force.
local function settle_bans(bans, now)
  local flat = redis.call('HGETALL', bans)
  local forever, latest, latest_text = false, 0, nil
  for i = 1, #flat, 2 do
    local text = ban_until_text(flat[i + 1])
    local u = tonumber(text)
    if u >= 0 and u <= now then
      redis.call('HDEL', bans, flat[i])
    elseif u < 0 then
      forever = true
    elseif u > latest then
      latest, latest_text = u, text
    end
  end
  if forever then
    redis.call('PERSIST', bans)
  elseif latest_text then
    redis.call('PEXPIREAT', bans, latest_text)
  end
end
