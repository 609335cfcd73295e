-- Remove every member of a node and publish user_left for each, exactly once: a second
-- reaper finds the node's hash gone. Without `force`, only a node whose alive key has
-- expired is reaped.
-- KEYS: node_members, nodes, alive
-- ARGV: prefix, node, ts, force ('1' or '0')
local nodemem, nodes, alive = KEYS[1], KEYS[2], KEYS[3]
local prefix, node, ts, force = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if force ~= '1' and redis.call('EXISTS', alive) == 1 then return -1 end
local entries = redis.call('HGETALL', nodemem)
local removed = 0
for i = 1, #entries, 2 do
  local room, sid = string.match(entries[i], '^([^\n]*)\n(.*)$')
  local key = entries[i + 1]
  local members = prefix .. 'room:' .. room .. ':members'
  local rec = redis.call('HGET', members, key)
  if rec then
    local rnode, rsid, name = string.match(rec, '^([^\n]*)\n([^\n]*)\n(.*)$')
    if rnode == node and rsid == sid then
      redis.call('HDEL', members, key)
      local count = redis.call('HLEN', members)
      local rooms = prefix .. 'rooms'
      if count > 0 then redis.call('ZADD', rooms, count, room) else redis.call('ZREM', rooms, room) end
      local epoch = redis.call('HGET', prefix .. 'room:' .. room .. ':meta', 'epoch') or ''
      local payload = '{"room":' .. cjson.encode(room) .. ',"name":' .. cjson.encode(name) ..
        ',"ts":' .. ts .. '}'
      redis.call('PUBLISH', prefix .. 'room:' .. room .. ':events',
        'user_left\n' .. epoch .. '\n0\n' .. sid .. '\n' .. payload)
      removed = removed + 1
    end
  end
end
redis.call('DEL', nodemem)
redis.call('SREM', nodes, node)
return removed
