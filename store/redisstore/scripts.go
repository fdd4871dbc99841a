package redisstore

// The Lua scripts that make the store's multi-key operations atomic.
//
// Every queue script receives the same seven keys first (see Store.queueKeys)
// and then, as ARGV[1] to ARGV[3], the hash-tagged prefix, the request id
// of the call and how long to remember that request, in milliseconds (see
// Store.eval). Keys whose names depend on data the script reads (a job hash,
// a per-key list) are built from that prefix inside the script; they carry
// the same hash tag, so in Redis Cluster they live in the slot of the
// declared keys.
//
// A client may run a script twice for one call: go-redis sends a command
// again when the reply was lost (a dropped connection, a read timeout),
// although Redis may already have run it. Every script that writes is
// therefore idempotent for its request id: it records the outcome under
// {p}:req:<request id> for a while, and a second run with the same id
// returns that outcome and changes nothing.
//
// Times are microseconds on the Redis clock. Numbers written to Redis go
// through n2s so that large values are stored as plain integers, never in
// exponent notation.

// advanceStatusLua: KEYS[1] message hash, KEYS[2] request marker; ARGV
// status, error code, rank, marker lifetime in ms. Returns {-1} when the
// message is missing, else {1, changed, status, code, conversation, part,
// customer, sender, started}. A repeat of a run that changed the status
// reports the change again. started is kept; a record with the status of
// releases before it ('received:started-conversation') keeps that fact in
// started when its status moves on.
const advanceStatusLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local changed = tonumber(redis.call('GET', KEYS[2]) or '0')
local rank = tonumber(redis.call('HGET', KEYS[1], 'rank') or '0') or 0
if tonumber(ARGV[3]) > rank then
  if redis.call('HGET', KEYS[1], 'status') == 'received:started-conversation' then
    redis.call('HSET', KEYS[1], 'started', '1')
  end
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'error_code', ARGV[2], 'rank', ARGV[3])
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
  changed = 1
end
local f = redis.call('HMGET', KEYS[1], 'status', 'error_code', 'conversation', 'part', 'customer', 'sender', 'started')
return {1, changed, f[1] or '', f[2] or '0', f[3] or '', f[4] or '', f[5] or '', f[6] or '', f[7] or '0'}
`

// markSeenLua: KEYS[1] seen key; ARGV TTL in ms, request id. Returns 1 when
// the key is new (or was recorded by an earlier run of the same request),
// else 0.
const markSeenLua = `
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[1]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[2] then return 1 end
return 0
`

// queuePrelude defines the helpers shared by the queue scripts.
const queuePrelude = `
local K_CLOCK, K_RUN, K_LEASED, K_PENDING, K_DEAD, K_SEQ = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local K_LEASEKEYS = KEYS[7]
local base, REQ, REQ_TTL = ARGV[1], ARGV[2], ARGV[3]

local function n2s(x) return string.format('%.0f', x) end

-- recalled returns the outcome recorded by an earlier run of this request,
-- or nil; remember records it.
local function recalled() return redis.call('GET', base .. 'req:' .. REQ) end
local function remember(v) redis.call('SET', base .. 'req:' .. REQ, v, 'PX', REQ_TTL) end

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

-- forget drops every reference to job id, whose hash is gone (evicted or
-- deleted by hand), except from its key's list, which the caller handles.
local function forget(id)
  redis.call('ZREM', K_LEASED, id)
  redis.call('HDEL', K_LEASEKEYS, id)
  redis.call('SREM', K_PENDING, id)
end

-- unlease drops the lease entries of job id, whose lease ended.
local function unlease(id)
  redis.call('ZREM', K_LEASED, id)
  redis.call('HDEL', K_LEASEKEYS, id)
end

-- promote makes the new head of key's list (if any) runnable at its run
-- time. Heads whose hash is gone are dropped.
local function promote(key)
  local q = qkey(key)
  while true do
    local head = redis.call('LINDEX', q, 0)
    if not head then return end
    local run = redis.call('HGET', jobkey(head), 'run')
    if run then
      redis.call('ZADD', K_RUN, run, key)
      return
    end
    redis.call('LPOP', q)
    forget(head)
  end
end

-- held reports whether job id is leased under token.
local function held(id, token)
  local f = redis.call('HMGET', jobkey(id), 'state', 'lease')
  return f[1] == 'leased' and token ~= '' and f[2] == token
end
`

// enqueueLua: ARGV base, job id (the request id), marker lifetime, kind,
// key, payload, dedupe key (empty for none), dedupe TTL in ms. Returns {0}
// for a duplicate, else {1, id, created}. The dedupe key holds the id of the
// job that recorded it, so a repeat of the same request is no duplicate.
const enqueueLua = `
local id = REQ
local prev = recalled()
if prev then return {1, id, prev} end
if ARGV[7] ~= '' then
  local sk = base .. 'seen:' .. ARGV[7]
  if not redis.call('SET', sk, id, 'NX', 'PX', ARGV[8]) then
    if redis.call('GET', sk) ~= id then return {0} end
    -- Recorded by this very request, whose marker has expired since.
    return {1, id, redis.call('HGET', jobkey(id), 'created') or n2s(now())}
  end
end
local t = n2s(now())
redis.call('HSET', jobkey(id), 'kind', ARGV[4], 'key', ARGV[5], 'payload', ARGV[6],
  'state', 'ready', 'attempt', '0', 'lease', '', 'until', '0', 'err', '',
  'created', t, 'run', t)
redis.call('SADD', K_PENDING, id)
if redis.call('RPUSH', qkey(ARGV[5]), id) == 1 then
  redis.call('ZADD', K_RUN, t, ARGV[5])
end
remember(t)
return {1, id, t}
`

// claimLua: ARGV base, lease token (the request id), marker lifetime, lease
// in µs. Returns {0} when no job is ready, else {1, lapsed, id, kind, key,
// payload, err, created, attempt}, where lapsed is 1 when the job's previous
// lease ran out without being finished.
//
// The candidates are the earliest runnable key's head and the job whose
// lease ran out first; of the two, the one with the earlier run time wins.
// Only the job handed out changes hands: other lapsed leases stay with
// their holders, who may still finish them.
//
// A lapsed lease whose job hash is gone (evicted, or deleted by hand) names
// a job that no longer exists: its id is dropped from the lease entries
// and, found through {p}:leasekeys, from its key's list, whose next job is
// made runnable, so that the key does not wait for the lost job forever.
const claimLua = `
local token = REQ
local function out(id, lapsed)
  local f = redis.call('HMGET', jobkey(id), 'kind', 'key', 'payload', 'err', 'created', 'attempt')
  return {1, lapsed, id, f[1] or '', f[2] or '', f[3] or '', f[4] or '', f[5] or '0', f[6] or '0'}
end

local prev = recalled()
if prev then
  if held(prev, token) then return out(prev, 0) end
  return {0}
end

local t = now()

-- lapsed: the leased job whose lease ran out first, and its run time.
local lapsed, lapsedRun
for _ = 1, 16 do
  local e = redis.call('ZRANGEBYSCORE', K_LEASED, '-inf', n2s(t), 'LIMIT', 0, 1)
  if #e == 0 then break end
  local f = redis.call('HMGET', jobkey(e[1]), 'state', 'run')
  if f[1] == 'leased' then
    lapsed, lapsedRun = e[1], tonumber(f[2])
    break
  end
  local key = redis.call('HGET', K_LEASEKEYS, e[1])
  forget(e[1])
  if key and not f[1] then
    redis.call('LREM', qkey(key), 1, e[1])
    promote(key)
  end
end

-- ready: the head of the runnable key with the earliest run time.
local ready, readyKey, readyRun
for _ = 1, 16 do
  local r = redis.call('ZRANGEBYSCORE', K_RUN, '-inf', n2s(t), 'WITHSCORES', 'LIMIT', 0, 1)
  if #r == 0 then break end
  local head = redis.call('LINDEX', qkey(r[1]), 0)
  if head and redis.call('EXISTS', jobkey(head)) == 1 then
    ready, readyKey, readyRun = head, r[1], tonumber(r[2])
    break
  end
  redis.call('ZREM', K_RUN, r[1])
  promote(r[1])
end

local id, wasLapsed
if lapsed and (not ready or lapsedRun <= readyRun) then
  id, wasLapsed = lapsed, 1
elseif ready then
  id, wasLapsed = ready, 0
  redis.call('ZREM', K_RUN, readyKey)
else
  return {0}
end
local jk = jobkey(id)
local expires = n2s(t + tonumber(ARGV[4]))
redis.call('HINCRBY', jk, 'attempt', 1)
redis.call('HSET', jk, 'state', 'leased', 'lease', token, 'until', expires)
redis.call('ZADD', K_LEASED, expires, id)
redis.call('HSET', K_LEASEKEYS, id, redis.call('HGET', jk, 'key'))
remember(id)
return out(id, wasLapsed)
`

// extendLua: ARGV base, request id, marker lifetime, job id, token, lease in
// µs. Returns 1, or 0 when the lease is lost.
const extendLua = `
if recalled() then return 1 end
local id = ARGV[4]
if not held(id, ARGV[5]) then return 0 end
local expires = n2s(now() + tonumber(ARGV[6]))
redis.call('HSET', jobkey(id), 'until', expires)
redis.call('ZADD', K_LEASED, expires, id)
remember('1')
return 1
`

// completeLua: ARGV base, request id, marker lifetime, job id, token.
// Returns 1, or 0 when the lease is lost.
const completeLua = `
if recalled() then return 1 end
local id = ARGV[4]
if not held(id, ARGV[5]) then return 0 end
local key = redis.call('HGET', jobkey(id), 'key')
redis.call('LREM', qkey(key), 1, id)
redis.call('DEL', jobkey(id))
unlease(id)
redis.call('SREM', K_PENDING, id)
promote(key)
remember('1')
return 1
`

// retryLua: ARGV base, request id, marker lifetime, job id, token, delay in
// µs, reason. Returns 1, or 0 when the lease is lost. The job stays at the
// head of its key's list.
const retryLua = `
if recalled() then return 1 end
local id = ARGV[4]
if not held(id, ARGV[5]) then return 0 end
local run = n2s(now() + tonumber(ARGV[6]))
local jk = jobkey(id)
redis.call('HSET', jk, 'state', 'ready', 'lease', '', 'until', '0', 'err', ARGV[7], 'run', run)
unlease(id)
redis.call('ZADD', K_RUN, run, redis.call('HGET', jk, 'key'))
remember('1')
return 1
`

// deadLetterLua: ARGV base, request id, marker lifetime, job id, token,
// reason. Returns 1, or 0 when the lease is lost.
const deadLetterLua = `
if recalled() then return 1 end
local id = ARGV[4]
if not held(id, ARGV[5]) then return 0 end
local jk = jobkey(id)
local key = redis.call('HGET', jk, 'key')
local seq = redis.call('INCR', K_SEQ)
redis.call('HSET', jk, 'state', 'dead', 'lease', '', 'until', '0', 'err', ARGV[6], 'died', n2s(now()))
redis.call('LREM', qkey(key), 1, id)
unlease(id)
redis.call('SREM', K_PENDING, id)
redis.call('ZADD', K_DEAD, seq, id)
promote(key)
remember('1')
return 1
`

// deadLettersLua: KEYS[1] dead-letter sorted set; ARGV base, limit. Returns
// seven fields per dead letter: id, kind, key, payload, attempt, err,
// created. It only reads.
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

// replayLua: ARGV base, request id, marker lifetime, job id. Returns 1, or 0
// when there is no such dead letter.
const replayLua = `
if recalled() then return 1 end
local id = ARGV[4]
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
remember('1')
return 1
`

// discardLua: ARGV base, request id, marker lifetime, job id. Returns 1, or
// 0 when there is no such dead letter.
const discardLua = `
if recalled() then return 1 end
local id = ARGV[4]
if redis.call('ZREM', K_DEAD, id) == 0 then return 0 end
redis.call('DEL', jobkey(id))
remember('1')
return 1
`
