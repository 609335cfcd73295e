-- Kick or ban: remove a user from the room at once (every seat, on every node) and tell
-- the nodes (a `kicked` event) before the others see it leave; a ban is recorded first,
-- in the same step, so no join can slip in between.
-- KEYS: presence keys (6), bans, subs, kicks, then each registered node's connections
-- ARGV: room, 'name'|'user', name key or user, ts, until ('-2': a kick; '-1': until
--       unban), sub JSON ('' = look it up), ban record tail (wire.ban_tail), kicked JSON
-- Returns {} when nobody is found (nothing changed), else {user, name_json or '', 0|1}.
local K = KEYS
local room, by, target, ts, till = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local sub_json, tail, kicked = ARGV[6], ARGV[7], ARGV[8]
local KICK_RECORD_MS = 600000

local user, name_json
if by == 'name' then
  local rec = redis.call('HGET', K[2], target)
  if not rec then return {} end
  user, name_json = record_user(rec), record_name_json(rec)
else
  user = target
  local nk = redis.call('HGET', K[3], user)
  local rec = nk and redis.call('HGET', K[2], nk)
  if rec and record_user(rec) == user then name_json = record_name_json(rec) end
end
if till == '-2' and not name_json then return {} end

if till ~= '-2' then
  if sub_json == '' then sub_json = redis.call('HGET', K[8], user) or 'null' end
  redis.call('HSET', K[7], user,
    till .. '\n{"name":' .. (name_json or 'null') .. ',"sub":' .. sub_json .. tail)
  settle_bans(K[7], ts)
end
if not name_json then return {user, '', 0} end

local sids = {}
for i = 10, #K do
  local conns = redis.call('HGETALL', K[i])
  for j = 1, #conns, 2 do
    if conns[j + 1] == user then
      redis.call('HDEL', K[i], conns[j])
      table.insert(sids, '"' .. conns[j] .. '"')  -- Socket.IO ids: URL-safe, no escaping
    end
  end
end
local control = '{"user":"' .. user .. '","sids":[' .. table.concat(sids, ',')
  .. '],"event":' .. kicked .. '}'
-- Kept a while for a node that misses the event (its feed was down): it finds its
-- connections' seats gone and tells them this (see ModerationService.resubscribed).
redis.call('HSET', K[9], user, control)
redis.call('PEXPIRE', K[9], KICK_RECORD_MS)
local epoch = redis.call('HGET', K[1], 'epoch') or ''
redis.call(PUBLISH, K[6], 'kicked\n' .. epoch .. '\n0\n\n' .. control)
remove_user(K, room, user, ts, '')
return {user, name_json, 1}
