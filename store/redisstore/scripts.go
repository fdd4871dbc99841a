package redisstore

// The Lua scripts that make the store's multi-key operations atomic.
//
// Every queue script receives the same six keys first (see Store.queueKeys)
// and the hash-tagged prefix as ARGV[1]. Keys whose names depend on data the
// script reads (a job hash, a per-key list) are built from that prefix inside
// the script; they carry the same hash tag, so in Redis Cluster they live in
// the slot of the declared keys.
//
// Times are microseconds on the Redis clock. Numbers written to Redis go
// through n2s so that large values are stored as plain integers, never in
// exponent notation.

// advanceStatusLua: KEYS[1] message hash; ARGV status, error code, rank.
// Returns {-1} when the message is missing, else {1, changed, status, code,
// conversation, part, customer, sender}.
const advanceStatusLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local changed = 0
local rank = tonumber(redis.call('HGET', KEYS[1], 'rank') or '0') or 0
if tonumber(ARGV[3]) > rank then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'error_code', ARGV[2], 'rank', ARGV[3])
  changed = 1
end
local f = redis.call('HMGET', KEYS[1], 'status', 'error_code', 'conversation', 'part', 'customer', 'sender')
return {1, changed, f[1] or '', f[2] or '0', f[3] or '', f[4] or '', f[5] or '', f[6] or ''}
`

// queuePrelude defines the helpers shared by the queue scripts.
const queuePrelude = `
local K_CLOCK, K_RUN, K_LEASED, K_PENDING, K_DEAD, K_SEQ = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local base = ARGV[1]

local function n2s(x) return string.format('%.0f', x) end

-- now returns the Redis server time in microseconds, made strictly
-- increasing across calls so that jobs enqueued one after the other keep
-- their order even within one microsecond.
local function now()
  local t = redis.call('TIME')
  local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = tonumber(redis.call('GET', K_CLOCK) or '0') or 0
  if us <= last then us = last + 1 end
  redis.call('SET', K_CLOCK, n2s(us))
  return us
end

local function jobkey(id) return base .. 'job:' .. id end
local function qkey(key) return base .. 'q:' .. key end

-- reclaim gives jobs whose lease ran out back to the queue: the job stays at
-- the head of its key's list and the key becomes runnable again at the job's
-- old run time. It handles at most 100 jobs per call.
local function reclaim(t)
  local ids = redis.call('ZRANGEBYSCORE', K_LEASED, '-inf', n2s(t), 'LIMIT', 0, 100)
  for _, id in ipairs(ids) do
    redis.call('ZREM', K_LEASED, id)
    local jk = jobkey(id)
    local f = redis.call('HMGET', jk, 'key', 'run', 'state')
    if f[1] and f[3] == 'leased' then
      redis.call('HSET', jk, 'state', 'ready', 'lease', '', 'until', '0')
      redis.call('ZADD', K_RUN, f[2], f[1])
    end
  end
  return #ids
end

-- promote makes the new head of key's list (if any) runnable at its run time.
local function promote(key)
  local head = redis.call('LINDEX', qkey(key), 0)
  if head then
    local run = redis.call('HGET', jobkey(head), 'run')
    if run then redis.call('ZADD', K_RUN, run, key) end
  end
end

-- held reports whether job id is leased under token.
local function held(id, token)
  local f = redis.call('HMGET', jobkey(id), 'state', 'lease')
  return f[1] == 'leased' and token ~= '' and f[2] == token
end
`

// enqueueLua: ARGV base, kind, key, payload, dedupe key (empty for none),
// dedupe TTL in ms. Returns {0} for a duplicate, else {1, id, created}.
const enqueueLua = `
if ARGV[5] ~= '' then
  if not redis.call('SET', base .. 'seen:' .. ARGV[5], '1', 'NX', 'PX', ARGV[6]) then
    return {0}
  end
end
local t = now()
local id = n2s(redis.call('INCR', K_SEQ))
redis.call('HSET', jobkey(id), 'kind', ARGV[2], 'key', ARGV[3], 'payload', ARGV[4],
  'state', 'ready', 'attempt', '0', 'lease', '', 'until', '0', 'err', '',
  'created', n2s(t), 'run', n2s(t))
redis.call('SADD', K_PENDING, id)
if redis.call('RPUSH', qkey(ARGV[3]), id) == 1 then
  redis.call('ZADD', K_RUN, n2s(t), ARGV[3])
end
return {1, id, t}
`

// claimLua: ARGV base, lease in µs, token. Returns {0, reclaimed} when no
// job is ready, else {1, reclaimed, id, kind, key, payload, err, created,
// attempt}.
const claimLua = `
local t = now()
local reclaimed = reclaim(t)
for _ = 1, 16 do
  local keys = redis.call('ZRANGEBYSCORE', K_RUN, '-inf', n2s(t), 'LIMIT', 0, 1)
  if #keys == 0 then return {0, reclaimed} end
  local key = keys[1]
  redis.call('ZREM', K_RUN, key)
  local id = redis.call('LINDEX', qkey(key), 0)
  if id then
    local jk = jobkey(id)
    local attempt = redis.call('HINCRBY', jk, 'attempt', 1)
    local expires = n2s(t + tonumber(ARGV[2]))
    redis.call('HSET', jk, 'state', 'leased', 'lease', ARGV[3], 'until', expires)
    redis.call('ZADD', K_LEASED, expires, id)
    local f = redis.call('HMGET', jk, 'kind', 'key', 'payload', 'err', 'created')
    return {1, reclaimed, id, f[1] or '', f[2] or '', f[3] or '', f[4] or '', f[5] or '0', attempt}
  end
end
return {0, reclaimed}
`

// extendLua: ARGV base, id, token, lease in µs. Returns 1, or 0 when the
// lease is lost.
const extendLua = `
if not held(ARGV[2], ARGV[3]) then return 0 end
local expires = n2s(now() + tonumber(ARGV[4]))
redis.call('HSET', jobkey(ARGV[2]), 'until', expires)
redis.call('ZADD', K_LEASED, expires, ARGV[2])
return 1
`

// completeLua: ARGV base, id, token. Returns 1, or 0 when the lease is lost.
const completeLua = `
local id = ARGV[2]
if not held(id, ARGV[3]) then return 0 end
local key = redis.call('HGET', jobkey(id), 'key')
redis.call('LREM', qkey(key), 1, id)
redis.call('DEL', jobkey(id))
redis.call('ZREM', K_LEASED, id)
redis.call('SREM', K_PENDING, id)
promote(key)
return 1
`

// retryLua: ARGV base, id, token, delay in µs, reason. Returns 1, or 0 when
// the lease is lost. The job stays at the head of its key's list.
const retryLua = `
local id = ARGV[2]
if not held(id, ARGV[3]) then return 0 end
local run = n2s(now() + tonumber(ARGV[4]))
local jk = jobkey(id)
redis.call('HSET', jk, 'state', 'ready', 'lease', '', 'until', '0', 'err', ARGV[5], 'run', run)
redis.call('ZREM', K_LEASED, id)
redis.call('ZADD', K_RUN, run, redis.call('HGET', jk, 'key'))
return 1
`

// deadLetterLua: ARGV base, id, token, reason. Returns 1, or 0 when the
// lease is lost.
const deadLetterLua = `
local id = ARGV[2]
if not held(id, ARGV[3]) then return 0 end
local jk = jobkey(id)
local key = redis.call('HGET', jk, 'key')
local seq = redis.call('INCR', K_SEQ)
redis.call('HSET', jk, 'state', 'dead', 'lease', '', 'until', '0', 'err', ARGV[4], 'died', n2s(now()))
redis.call('LREM', qkey(key), 1, id)
redis.call('ZREM', K_LEASED, id)
redis.call('SREM', K_PENDING, id)
redis.call('ZADD', K_DEAD, seq, id)
promote(key)
return 1
`

// deadLettersLua: KEYS[1] dead-letter sorted set; ARGV base, limit. Returns
// seven fields per dead letter: id, kind, key, payload, attempt, err,
// created.
const deadLettersLua = `
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', ARGV[1] .. 'job:' .. id, 'kind', 'key', 'payload', 'attempt', 'err', 'created')
  if f[1] then
    table.insert(out, id)
    for i = 1, 6 do table.insert(out, f[i] or '') end
  end
end
return out
`

// replayLua: ARGV base, id. Returns 1, or 0 when there is no such dead
// letter.
const replayLua = `
local id = ARGV[2]
if redis.call('ZREM', K_DEAD, id) == 0 then return 0 end
local jk = jobkey(id)
local key = redis.call('HGET', jk, 'key')
if not key then return 0 end
local run = n2s(now())
redis.call('HSET', jk, 'state', 'ready', 'attempt', '0', 'lease', '', 'until', '0', 'run', run)
redis.call('HDEL', jk, 'died')
redis.call('SADD', K_PENDING, id)
if redis.call('RPUSH', qkey(key), id) == 1 then
  redis.call('ZADD', K_RUN, run, key)
end
return 1
`

// discardLua: ARGV base, id. Returns 1, or 0 when there is no such dead
// letter.
const discardLua = `
local id = ARGV[2]
if redis.call('ZREM', K_DEAD, id) == 0 then return 0 end
redis.call('DEL', jobkey(id))
return 1
`

// statsLua: ARGV base. Takes expired leases back first, then returns
// {ready, leased, dead, reclaimed}.
const statsLua = `
local reclaimed = reclaim(now())
local leased = redis.call('ZCARD', K_LEASED)
return {redis.call('SCARD', K_PENDING) - leased, leased, redis.call('ZCARD', K_DEAD), reclaimed}
`
