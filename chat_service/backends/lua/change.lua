-- Change a kept message: edit its text, delete it (a tombstone), or change a user's
-- reaction. One step: read, check, write the new state in place, publish it, so changes
-- from many nodes at once each see the one before (six reactions give v 6).
-- KEYS: meta, history, channel, reactions, changed, sent
-- ARGV: op ('edit' | 'delete' | 'react'), id, epoch given ('' = none), user ('' = the
--       server API), moderator (0/1), ts, idle ttl ms, text (edit) or emoji (react),
--       name (react), on (react: 0/1), most distinct reactions, names shown per reaction
-- Returns {'ok', msg} changed and published, {'same', msg} already as asked, or
-- {'not_found'} | {'forbidden'} | {'too_many'}.
local meta, hist, channel, reactions, changed, sent =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local op, id, given, user = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local moderator, ts, ttl = ARGV[5] == '1', tonumber(ARGV[6]), tonumber(ARGV[7])
local shown = tonumber(ARGV[12])

-- JSON exactly as orjson writes it (wire.render_message): only '"', '\' and control
-- characters are escaped; everything else is UTF-8 as is.
local ESC = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}
local function jstr(s)
  local out = string.gsub(s, '[%z\1-\31"\\]', function(c)
    return ESC[c] or string.format('\\u%04x', string.byte(c))
  end)
  return '"' .. out .. '"'
end
local function int(n) return string.format('%d', n) end

-- Reactions are kept as a list (first chosen first) of {e = emoji, u = {users},
-- n = {their names}}; shown as count + the first `shown` names by code point (UTF-8
-- byte order is code point order).
local function reactions_json(list, shown)
  local parts = {}
  for _, r in ipairs(list) do
    local names = {}
    for i, name in ipairs(r.n) do names[i] = name end
    table.sort(names)
    local quoted = {}
    for i = 1, math.min(#names, shown) do quoted[i] = jstr(names[i]) end
    table.insert(parts, jstr(r.e) .. ':{"count":' .. #r.u .. ',"names":[' ..
      table.concat(quoted, ',') .. ']}')
  end
  if #parts == 0 then return nil end
  return '{' .. table.concat(parts, ',') .. '}'
end

local function render(m, rx)
  local out = {'{"id":', int(m.id), ',"v":', int(m.v), ',"room":', jstr(m.room),
    ',"name":', jstr(m.name), ',"text":', jstr(m.text), ',"ts":', int(m.ts)}
  if m.client_id then table.insert(out, ',"client_id":' .. jstr(m.client_id)) end
  if m.reply_to then table.insert(out, ',"reply_to":' .. int(m.reply_to)) end
  if m.system then table.insert(out, ',"system":true') end
  if m.edited then table.insert(out, ',"edited":' .. int(m.edited)) end
  if rx then table.insert(out, ',"reactions":' .. rx) end
  if m.deleted then table.insert(out, ',"deleted":true') end
  table.insert(out, ',"epoch":' .. jstr(m.epoch) .. '}')
  return table.concat(out)
end

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch or (given ~= '' and given ~= epoch) then return {'not_found'} end
local seq = tonumber(redis.call('HGET', meta, 'seq') or '0')
local first = seq - redis.call('LLEN', hist) + 1
if id < first or id > seq then return {'not_found'} end
local raw = redis.call('LINDEX', hist, id - first)
local m = cjson.decode(raw)
local author = redis.call('HGET', meta, 'a' .. id)  -- false for a message of version 2
local own = author and author == user and user ~= ''
local cid = m.client_id
local stored = redis.call('HGET', reactions, id)
local list = stored and cjson.decode(stored) or {}

if op == 'edit' then
  if m.deleted then return {'not_found'} end
  if not own then return {'forbidden'} end
  if m.text == ARGV[8] then return {'same', raw} end
  m.text, m.edited = ARGV[8], ts
elseif op == 'delete' then
  if m.deleted then return {'same', raw} end
  if not (own or moderator) then return {'forbidden'} end
  m = {id = m.id, v = m.v, room = m.room, name = m.name, text = '', ts = m.ts,
    system = m.system, deleted = true, epoch = m.epoch}
  list = {}
else
  if m.deleted then return {'not_found'} end
  local emoji, name, on, most = ARGV[8], ARGV[9], ARGV[10] == '1', tonumber(ARGV[11])
  local entry, at = nil, nil
  for i, r in ipairs(list) do
    if r.e == emoji then entry, at = r, i end
  end
  local mine = nil
  if entry then
    for i, u in ipairs(entry.u) do
      if u == user then mine = i end
    end
  end
  if on then
    if mine then return {'same', raw} end
    if not entry then
      if #list >= most then return {'too_many'} end
      entry = {e = emoji, u = {}, n = {}}
      table.insert(list, entry)
    end
    table.insert(entry.u, user)
    table.insert(entry.n, name)
  else
    if not mine then return {'same', raw} end
    table.remove(entry.u, mine)
    table.remove(entry.n, mine)
    if #entry.u == 0 then table.remove(list, at) end
  end
end

m.v = (m.v or 0) + 1
local msg = render(m, reactions_json(list, shown))
redis.call('LSET', hist, id - first, msg)
if #list > 0 then
  redis.call('HSET', reactions, id, cjson.encode(list))
else
  redis.call('HDEL', reactions, id)
end
-- Changes of messages that have left the kept window are dropped here, so both hashes
-- stay within the window without any work on the append path.
for _, old in ipairs(redis.call('ZRANGEBYSCORE', changed, '-inf', '(' .. first)) do
  redis.call('HDEL', reactions, old)
end
redis.call('ZREMRANGEBYSCORE', changed, '-inf', '(' .. first)
redis.call('ZADD', changed, id, id)
for _, key in ipairs({hist, changed, reactions, meta}) do redis.call('PEXPIRE', key, ttl) end
-- A client_id retry answers the message as it is now.
if cid and author then
  local field = author .. '\n' .. cid
  if redis.call('HEXISTS', sent, field) == 1 then redis.call('HSET', sent, field, msg) end
end
redis.call(PUBLISH, channel, 'message_updated\n' .. epoch .. '\n' .. id .. '\n\n' .. msg)
return {'ok', msg}
