package redis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stolos-sched/stolos/lib/store"
)

// Every transition is one Lua script, so it is atomic. Each script is the
// prelude (shared helpers) followed by its body. ARGV[1] is always the
// installation id, a newline and the key prefix; the other arguments are the
// script's own. A script whose installation id is not the marker's fails
// with "STOLOS vanished" before it reads or writes anything: the data this
// process knew is gone (see installBody). Between the id and the prefix,
// ARGV[1] holds the number of attempts kept per job and a newline.
//
// Keys, with K = prefix .. #app .. ":" .. app .. ":" (the length makes the
// app name unambiguous whatever characters it holds):
//
//	K.."j:"..id     hash, one per job: state, q (queued: "1" or absent),
//	                pri, qm (the job's member in K.."q"), nb (not before),
//	                owner, token, until, tr (transferable), att, out,
//	                try (attempts numbered so far, store.Attempt.Seq),
//	                ls (when the lease was taken), qt (when its queue
//	                entry was made: Counts.HeadAge); a revoked lease's
//	                token is "!" and the holder's
//	K.."a:"..id     hash, the job's attempt ring: field seq mod keep, value
//	                the JSON array [seq, start, end, worker, outcome, log]
//	K.."h"          the app's attempts by end time: member slot ":" id
//	K.."s:"..state  sorted set (all scores 0) of the job ids in that state,
//	                for List (paged by lex) and Count
//	K.."q"          waiting entries: score = priority, member = 16 hex
//	                digits of a sequence number then the job id, so equal
//	                priorities come out first in, first out
//	K.."d"          delayed entries (retry delay): job ids by not-before time
//	K.."lq"         leases of queued jobs: job ids by lease expiry
//	K.."lh"         leases of jobs that are not queued (Acquire)
//	K.."n"          pub/sub channel: published when work became claimable
//	K.."f:"..id     the fan-in record of a child waiting on parents: field
//	                "#" the number of parents missing, and one field
//	                (app TAB id, value "1") per parent seen completed
//	prefix.."bd"    unfinished bubble-downs and readds in steps: members
//	                app TAB id of the job, scored by when they last advanced
//	prefix.."bdn"   hash: for each member of bd, how many children are done
//	                (a bubble-down), or "r" and how many descendants are
//	                reset (a readd)
//	prefix.."seq"   the sequence counter for queue positions
//	prefix.."tok"   the counter for lease tokens
//	prefix.."installation"  the installation marker: a random id, made
//	                by the first process that found neither it nor seq/tok
//
// Where a job sits follows from its fields: with an owner it is in lq (if
// queued) or lh; otherwise, if queued, in d (if nb is set) or q; otherwise
// nowhere. Every change calls detach, changes fields, then place, which
// keeps that invariant. Times are microseconds of the server's clock (TIME),
// so every machine agrees on leases and delays.
const prelude = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local sep = string.find(ARGV[1], '\n', 1, true)
local sep2 = string.find(ARGV[1], '\n', sep + 1, true)
local P = string.sub(ARGV[1], sep2 + 1)
local KEEP = tonumber(string.sub(ARGV[1], sep + 1, sep2 - 1))
if redis.call('GET', P .. 'installation') ~= string.sub(ARGV[1], 1, sep - 1) then
  return redis.error_reply('STOLOS vanished')
end
local DEFAULTPRI = '@DEFAULTPRI@'
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
local function I(n) return string.format('%.0f', n) end
local function K(app) return P .. string.len(app) .. ':' .. app .. ':' end
local function H(app, id) return K(app) .. 'j:' .. id end
local notified = {}
local function notify(app)
  if not notified[app] then
    notified[app] = true
    redis.call('PUBLISH', K(app) .. 'n', '1')
  end
end
local function setstate(app, id, h, old, new)
  if old == new then return end
  if old then redis.call('ZREM', K(app) .. 's:' .. old, id) end
  redis.call('ZADD', K(app) .. 's:' .. new, 0, id)
  redis.call('HSET', h, 'state', new)
end
local function detach(app, id, h)
  local k = K(app)
  local qm = redis.call('HGET', h, 'qm')
  if qm then redis.call('ZREM', k .. 'q', qm) end
  redis.call('ZREM', k .. 'd', id)
  redis.call('ZREM', k .. 'lq', id)
  redis.call('ZREM', k .. 'lh', id)
end
local function place(app, id, h)
  local k = K(app)
  local f = redis.call('HMGET', h, 'q', 'owner', 'until', 'nb', 'pri', 'qm')
  if f[2] then
    if f[1] then redis.call('ZADD', k .. 'lq', f[3], id) else redis.call('ZADD', k .. 'lh', f[3], id) end
  elseif f[1] then
    if f[4] then
      redis.call('ZADD', k .. 'd', f[4], id)
    else
      redis.call('ZADD', k .. 'q', f[5], f[6])
      notify(app)
    end
  end
end
local function clearlease(h) redis.call('HDEL', h, 'owner', 'token', 'until', 'tr') end
local function unqueue(h) redis.call('HDEL', h, 'q', 'qm', 'nb', 'qt') end
local function live(h)
  local f = redis.call('HMGET', h, 'owner', 'until')
  return f[1] and tonumber(f[2]) > now
end
local function held(h, token)
  local f = redis.call('HMGET', h, 'token', 'until')
  return f[1] and f[1] == token and tonumber(f[2]) > now
end
-- revoke revokes a live lease of a worker (store.Lease).
local function revoke(h)
  local f = redis.call('HMGET', h, 'owner', 'until', 'token', 'tr')
  if f[1] and tonumber(f[2]) > now and f[4] ~= '1' and string.sub(f[3], 1, 1) ~= '!' then
    redis.call('HSET', h, 'token', '!' .. f[3])
  end
end
-- record writes the record of attempt seq of h's lease (its owner and
-- start), ended at e, in its slot of the job's ring and in the app's
-- index by end time. A lease with no number (transferable) has none.
local function record(app, id, h, seq, e, outcome, log)
  seq = tonumber(seq)
  if not seq or seq <= 0 then return end
  local f = redis.call('HMGET', h, 'owner', 'ls')
  local slot = string.format('%d', seq % KEEP)
  redis.call('HSET', K(app) .. 'a:' .. id, slot, cjson.encode({seq, f[2] or '0', I(e), f[1] or '', outcome, log}))
  redis.call('ZADD', K(app) .. 'h', I(e), slot .. ':' .. id)
end
-- abandoned counts and records the abandoned attempt of a lease that
-- ended without an outcome (store.Lease), if h has one, and returns the
-- new count.
local function abandoned(app, id, h)
  local f = redis.call('HMGET', h, 'owner', 'until', 'token', 'tr', 'att', 'state', 'try')
  if not f[1] or tonumber(f[2]) > now or f[4] == '1' or string.sub(f[3], 1, 1) == '!' or f[6] ~= 'pending' then return nil end
  local att = tonumber(f[5] or '0') + 1
  local out = @ABANDONPRE@ .. f[1] .. @ABANDONPOST@
  redis.call('HSET', h, 'att', att, 'out', out)
  record(app, id, h, f[7], tonumber(f[2]), out, '')
  return att
end
-- takelease gives h a new lease, and the next attempt number unless it is
-- transferable; it returns the number ('0' for none).
local function takelease(h, owner, token, u, tr)
  local seq = '0'
  if tr ~= '1' then seq = tostring(redis.call('HINCRBY', h, 'try', 1)) end
  redis.call('HSET', h, 'owner', owner, 'token', token, 'until', u, 'tr', tr, 'ls', I(now))
  return seq
end
local function enqueue(app, id, h, pri, nb)
  detach(app, id, h)
  local seq = redis.call('INCR', P .. 'seq')
  redis.call('HSET', h, 'q', '1', 'pri', pri, 'qm', string.format('%016x', seq) .. id, 'qt', I(now))
  if nb then redis.call('HSET', h, 'nb', I(nb)) else redis.call('HDEL', h, 'nb') end
  place(app, id, h)
end
local function create(app, id, h, skip, pri)
  if skip then
    setstate(app, id, h, nil, 'skipped')
  else
    setstate(app, id, h, nil, 'pending')
    enqueue(app, id, h, pri, nil)
  end
end
local function pri(h) return redis.call('HGET', h, 'pri') or DEFAULTPRI end
local STEPMICROS = @STEPMICROS@ -- a step stops after this much of the server's time
-- elapsed is the server's time this script has run, in µs.
local function elapsed()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2]) - now
end
-- reset sets an existing descendant of a readded job pending, without a
-- queue entry unless it is claimed (its lease is revoked then), with no
-- failed attempts.
local function reset(ra, ri)
  local rh = H(ra, ri)
  local rs = redis.call('HGET', rh, 'state')
  if rs then
    setstate(ra, ri, rh, rs, 'pending')
    redis.call('HDEL', rh, 'att')
    if not live(rh) then
      detach(ra, ri, rh)
      clearlease(rh)
      unqueue(rh)
    else
      revoke(rh)
    end
  end
end
-- readding reports whether the job (app TAB id) has an unfinished readd.
local function readding(me)
  local d = redis.call('HGET', P .. 'bdn', me)
  return d and string.sub(d, 1, 1) == 'r'
end
-- nextdue returns when the earliest lease of a queued job of the app
-- (keys K) expires or its earliest retry delay ends: '' if none.
local function nextdue(k)
  local nxt = ''
  for _, z in ipairs({'lq', 'd'}) do
    local m = redis.call('ZRANGE', k .. z, 0, 0, 'WITHSCORES')
    if #m > 0 and (nxt == '' or tonumber(m[2]) < tonumber(nxt)) then nxt = m[2] end
  end
  return nxt
end
local JOBFIELDS = {'state', 'q', 'pri', 'owner', 'until', 'nb', 'att', 'out', 'token'}
local function job(h)
  local f = redis.call('HMGET', h, unpack(JOBFIELDS))
  if f[6] and tonumber(f[6]) <= now then f[6] = false end
  f[9] = f[9] and string.sub(f[9], 1, 1) == '!' and '1' or '0'
  return f
end
local function lost() return redis.error_reply('STOLOS lease') end
`

// Submit: per item: app, id, skip, priority, readd ("1"; "2" for the
// first step of a readd in steps, which leaves the readd marker and resets
// nothing), n, then n (app, id) pairs to reset. Returns one result code
// per item.
const submitBody = `
local res = {}
local i = 2
while i <= #ARGV do
  local app, id, skip, p, rd, nr = ARGV[i], ARGV[i+1], ARGV[i+2] == '1', ARGV[i+3], ARGV[i+4], tonumber(ARGV[i+5])
  local readd = rd ~= '0'
  i = i + 6
  local h = H(app, id)
  if readd then
    for r = 1, nr do
      reset(ARGV[i], ARGV[i+1])
      i = i + 2
    end
  else
    i = i + 2 * nr
  end
  if rd == '2' then
    local me = app .. '\t' .. id
    redis.call('ZADD', P .. 'bd', I(now), me)
    redis.call('HSET', P .. 'bdn', me, 'r0')
  end
  local st = redis.call('HGET', h, 'state')
  if not st then
    create(app, id, h, skip, p)
    res[#res+1] = skip and @CreatedSkipped@ or @Created@
  elseif not readd then
    res[#res+1] = @Exists@
  else
    revoke(h)
    redis.call('HDEL', h, 'att')
    if redis.call('HGET', h, 'q') then
      setstate(app, id, h, st, 'pending')
      res[#res+1] = @AlreadyQueued@
    elseif skip then
      setstate(app, id, h, st, 'skipped')
      res[#res+1] = @Requeued@
    else
      setstate(app, id, h, st, 'pending')
      enqueue(app, id, h, p, nil)
      res[#res+1] = @Requeued@
    end
  end
end
return res
`

// Readd: app, id of a readded job, the number of its descendants reset
// (from), their total, then the (app, id) pairs of a window of them from
// from. It resets them until the window ends or the step's time is spent,
// and keeps the readd marker. Returns the number reset; -1 when there is
// no readd marker (finished); the marker's count, doing nothing, when the
// window does not start there.
const readdBody = `
local app, id, from, total = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local me = app .. '\t' .. id
if not readding(me) then return -1 end
local d = tonumber(string.sub(redis.call('HGET', P .. 'bdn', me), 2))
if d ~= from then
  if d >= total then -- the descendants changed since: nothing left to do
    redis.call('ZREM', P .. 'bd', me)
    redis.call('HDEL', P .. 'bdn', me)
  end
  return d
end
local i = 6
while i <= #ARGV do
  reset(ARGV[i], ARGV[i+1])
  i = i + 2
  d = d + 1
  if d % 32 == 0 and elapsed() > STEPMICROS then break end
end
if d < total then
  redis.call('ZADD', P .. 'bd', I(now), me)
  redis.call('HSET', P .. 'bdn', me, 'r' .. d)
else
  redis.call('ZREM', P .. 'bd', me)
  redis.call('HDEL', P .. 'bdn', me)
end
return d
`

// claimFuncs are the functions of the claim scripts and of Heads.
//
// head returns the priority of the head of app's queue (store.Head): its
// first waiting entry's, or the best of the first 100 leases or retry
// delays that have ended (claim makes those claimable first); false if
// none.
//
// claim claims from app for owner up to n jobs under leases of dur µs,
// transferable if tr is "1", failing those whose abandoned attempt brings
// their count to maxr (if positive), within the limits given by the
// arguments from ARGV[li]: their number, and each limit's name, max,
// number of apps and apps (see store.Limit: n shrinks to the room they
// leave, their apps' live leases counted by ZCOUNT of lq and lh when the
// leases there, ZCARD, leave less). It moves
// expired leases (counting abandoned attempts, failing the jobs that reach
// max retry) and due delayed entries back first, then pops up to n pending
// jobs off the head of the queue, consuming entries of jobs that are not
// pending (a bounded number per call, so that one script never runs long;
// Wait sees the rest and the next claim goes on). Returns {{id, token,
// until, priority, attempts, seq}...}, next, {{id, job fields}...} of the
// jobs failed, and the name of the limit that held a job back (empty if
// none).
const claimFuncs = `
local function head(app)
  local k = K(app)
  local best = false
  local top = redis.call('ZRANGE', k .. 'q', 0, 0, 'WITHSCORES')
  if #top > 0 then best = tonumber(top[2]) end
  for _, z in ipairs({'lq', 'd'}) do
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', k .. z, '-inf', I(now), 'LIMIT', 0, 100)) do
      local p = tonumber(redis.call('HGET', H(app, id), 'pri') or DEFAULTPRI)
      if not best or p < best then best = p end
    end
  end
  return best
end
local function claim(app, owner, n, dur, tr, maxr, li)
  local k = K(app)
  local failed = {}
  for _, z in ipairs({'lq', 'lh'}) do
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', k .. z, '-inf', I(now), 'LIMIT', 0, 1000)) do
      local h = H(app, id)
      local att = abandoned(app, id, h)
      detach(app, id, h)
      clearlease(h)
      if att and maxr > 0 and att >= maxr then
        unqueue(h)
        setstate(app, id, h, redis.call('HGET', h, 'state'), 'failed')
        failed[#failed+1] = {id, job(h)}
      else
        place(app, id, h)
      end
    end
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', k .. 'd', '-inf', I(now), 'LIMIT', 0, 1000)) do
    local h = H(app, id)
    detach(app, id, h)
    redis.call('HDEL', h, 'nb')
    place(app, id, h)
  end
  local by, ai, held, live = '', li + 1, {}, {}
  for _ = 1, tonumber(ARGV[li]) do
    local name, mx, na = ARGV[ai], tonumber(ARGV[ai + 1]), tonumber(ARGV[ai + 2])
    -- The leases held (ZCARD, each app once) bound the live ones: those
    -- are counted (ZCOUNT past now) only when the bound leaves less room.
    local run = 0
    for j = 1, na do
      local a = ARGV[ai + 2 + j]
      if not held[a] then held[a] = redis.call('ZCARD', K(a) .. 'lq') + redis.call('ZCARD', K(a) .. 'lh') end
      run = run + held[a]
    end
    if mx - run < n then
      run = 0
      for j = 1, na do
        local a = ARGV[ai + 2 + j]
        if not live[a] then live[a] = redis.call('ZCOUNT', K(a) .. 'lq', '(' .. I(now), '+inf') + redis.call('ZCOUNT', K(a) .. 'lh', '(' .. I(now), '+inf') end
        run = run + live[a]
      end
    end
    if mx - run < n then n, by = math.max(mx - run, 0), name end
    ai = ai + 3 + na
  end
  local out = {}
  local budget = n + 10000 -- stale entries consumed per claim, at most
  while #out < n and budget > 0 do
    budget = budget - 1
    local top = redis.call('ZRANGE', k .. 'q', 0, 0)
    if #top == 0 then break end
    local qm = top[1]
    local id = string.sub(qm, 17)
    local h = H(app, id)
    local f = redis.call('HMGET', h, 'state', 'qm', 'pri', 'att')
    if f[1] ~= 'pending' or f[2] ~= qm then
      redis.call('ZREM', k .. 'q', qm)
      if f[2] == qm then unqueue(h) end
    else
      local token = I(now) .. '-' .. redis.call('INCR', P .. 'tok')
      local u = I(now + dur)
      detach(app, id, h)
      local seq = takelease(h, owner, token, u, tr)
      place(app, id, h)
      out[#out+1] = {id, token, u, f[3], f[4] or '0', seq}
    end
  end
  local nxt = nextdue(k)
  if by ~= '' and (#out < n or redis.call('ZCARD', k .. 'q') == 0) then by = '' end
  return {out, nxt, failed, by}
end
`

// Claim: app, owner, n, lease (µs), transferable, max retry, the number of
// limits, and each limit's name, max, number of apps and apps. Returns
// what claim (claimFuncs) does.
const claimBody = `
return claim(ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), 8)
`

// ClaimApps, a claim across apps (store.ClaimRequest.Apps): owner, n,
// lease (µs), transferable, the number of apps, and for each app its
// name, max retry, the number of its limits, and each limit's name, max,
// number of apps and apps. It claims from the apps in order of their
// heads' priorities (ties: in the order given) until one's claim takes or
// fails a job, and returns that claim's jobs, the earliest next and the
// first limit of the apps tried, and the number of that app from 1 (0:
// none took any).
const claimAppsBody = `
local owner, n, dur, tr, na = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local order, ai = {}, 7
for i = 1, na do
  local p = head(ARGV[ai])
  if p then order[#order+1] = {i = i, app = ARGV[ai], maxr = tonumber(ARGV[ai + 1]), li = ai + 2, pri = p} end
  ai = ai + 3
  for _ = 1, tonumber(ARGV[ai - 1]) do ai = ai + 3 + tonumber(ARGV[ai + 2]) end
end
table.sort(order, function(x, y)
  if x.pri ~= y.pri then return x.pri < y.pri end
  return x.i < y.i
end)
local nxt, by = '', ''
for _, a in ipairs(order) do
  local r = claim(a.app, owner, n, dur, tr, a.maxr, a.li)
  if r[2] ~= '' and (nxt == '' or tonumber(r[2]) < tonumber(nxt)) then nxt = r[2] end
  if by == '' then by = r[4] end
  if #r[1] > 0 or #r[3] > 0 then return {r[1], nxt, r[3], by, a.i} end
end
return {{}, nxt, {}, by, 0}
`

// Heads: apps. Returns the priority of the head of each app's queue
// (head, in claimFuncs), "" for none. It changes nothing.
const headsBody = `
local out = {}
for i = 2, #ARGV do
  local p = head(ARGV[i])
  out[i - 1] = p and string.format('%d', p) or ''
end
return out
`

// Acquire: app, id, owner, lease (µs). Returns {token, until, priority,
// attempts}.
const acquireBody = `
local app, id, owner, dur = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local h = H(app, id)
local f = redis.call('HMGET', h, 'state', 'owner', 'until', 'tr', 'att')
if not f[1] then
  setstate(app, id, h, nil, 'pending')
elseif f[1] ~= 'pending' then
  return redis.error_reply('STOLOS notpending ' .. f[1])
elseif f[2] and tonumber(f[3]) > now and f[4] ~= '1' then
  return redis.error_reply('STOLOS held ' .. f[2])
else
  f[5] = abandoned(app, id, h) or f[5]
end
local token = I(now) .. '-' .. redis.call('INCR', P .. 'tok')
local u = I(now + dur)
detach(app, id, h)
local seq = takelease(h, owner, token, u, '0')
redis.call('HDEL', h, 'nb')
place(app, id, h)
return {token, u, pri(h), f[5] and tostring(f[5]) or '0', seq}
`

// Renew: app, id, token, lease (µs). Returns the new expiry.
const renewBody = `
local app, id, token, dur = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local h = H(app, id)
if not held(h, token) then return lost() end
local u = I(now + dur)
detach(app, id, h)
redis.call('HSET', h, 'until', u)
place(app, id, h)
return u
`

// Release: app, id, token, seq, log (records an attempt if log is not
// empty).
const releaseBody = `
local app, id, token, seq, log = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local h = H(app, id)
local revoked = false
if not held(h, token) then
  if redis.call('HGET', h, 'token') ~= '!' .. token then return lost() end
  revoked = true
end
if log ~= '' then
  record(app, id, h, seq, now, revoked and @REVOKED@ or @RELEASED@, log)
end
detach(app, id, h)
clearlease(h)
place(app, id, h)
return 1
`

// stepTime is the most server time one step of a bubble-down takes before
// it stops (checked every 32 children), besides its store.Batch units: a
// loaded server stays responsive to every other client.
const stepTime = 10 * time.Millisecond

// bubblePrelude is the bubble-down shared by the complete and bubble
// scripts. Their children come as a window (the arguments from index i):
// base (the number of the first child), total (the number of children),
// then per child: app, id, skip, np (its number of parents), off, cnt,
// and cnt parent (app, id) pairs: its parents from number off; np is -1
// (and off and cnt 0) when the caller did not send the child's parents (a
// wide fan-in): the script stops there if it needs them, and the caller
// sends them.
//
// A fan-in record is built in steps: it is made with '#' = np (every
// parent missing) and 'b' = 0 (the build's cursor: the parents read so
// far), and each script reads the states of the parents it was sent from
// the cursor on, adding the completed ones to the set and taking those
// that are not out of it (reset since they were added), '#' going down or
// up by one with each change of the set, so that it is always np less the
// set's size, whoever adds a parent meanwhile (a completion adds itself to
// a record being built as to any other). The script that reads the last
// parent removes 'b': the record is built, and queues the child if '#' is
// 0. A record with 'b' is finished by whoever touches it next (the
// completion of one of its parents, or the marker's Resume), whether or not
// its child needs queueing.
const bubblePrelude = `
local BD, BDN = P .. 'bd', P .. 'bdn'
-- bubble notes the completion of (pa, pid) in the fan-in record of each
-- child of the window at i and queues (with priority pri) those whose last
-- parent it was, then keeps the parent's marker. Returns {done, need,
-- from}: the number of children done, and 1 if it stopped for the parents
-- of child number done, from its parent number from.
local function bubble(pa, pid, pri, i)
  local done, total = tonumber(ARGV[i]), tonumber(ARGV[i+1])
  local need, from = 0, 0
  local me = pa .. '\t' .. pid
  i = i + 2
  while i <= #ARGV do
    local ca, ci, skip = ARGV[i], ARGV[i+1], ARGV[i+2] == '1'
    local np, off, cnt = tonumber(ARGV[i+3]), tonumber(ARGV[i+4]), tonumber(ARGV[i+5])
    local ch = H(ca, ci)
    local cs = redis.call('HGET', ch, 'state')
    local needs = (not cs) or (cs == 'pending' and not redis.call('HGET', ch, 'q'))
    local fk = K(ca) .. 'f:' .. ci
    local build = needs
    local cur = nil -- the build's cursor, if the record is being built
    if redis.call('EXISTS', fk) == 1 then
      local m
      if redis.call('HSETNX', fk, me, '1') == 1 then
        m = redis.call('HINCRBY', fk, '#', -1)
      else
        m = tonumber(redis.call('HGET', fk, '#'))
      end
      cur = redis.call('HGET', fk, 'b')
      if cur then
        build, cur = true, tonumber(cur) -- half-built: finish it
      elseif m > 0 then
        build = false
      else
        redis.call('UNLINK', fk) -- every parent seen: check them again (UNLINK: a big hash is freed in the background)
      end
    end
    local finished = true
    if build then
      if np < 0 or (cur and (cur < off or cur >= off + cnt) and cur < np) or (not cur and off > 0) then
        need, from = 1, cur or 0
        break
      end
      if not cur then
        cur = 0
        redis.call('HSET', fk, '#', np, 'b', 0)
        if redis.call('HSETNX', fk, me, '1') == 1 then redis.call('HINCRBY', fk, '#', -1) end
      end
      local d = 0
      while cur < np and cur < off + cnt do
        local r = i + 6 + 2 * (cur - off)
        local xa, xi = ARGV[r], ARGV[r+1]
        local x = xa .. '\t' .. xi
        if x == me or redis.call('HGET', H(xa, xi), 'state') == 'completed' then
          d = d - redis.call('HSETNX', fk, x, '1')
        else
          d = d + redis.call('HDEL', fk, x)
        end
        cur = cur + 1
      end
      local m = redis.call('HINCRBY', fk, '#', d)
      if cur < np then
        redis.call('HSET', fk, 'b', cur)
        finished = false
      elseif m > 0 then
        redis.call('HDEL', fk, 'b')
      else
        redis.call('UNLINK', fk)
        cs = redis.call('HGET', ch, 'state')
        if not cs then
          create(ca, ci, ch, skip, pri)
        elseif cs ~= 'pending' or redis.call('HGET', ch, 'q') then
          -- queued or finished meanwhile: nothing to do
        elseif skip then
          detach(ca, ci, ch)
          clearlease(ch)
          setstate(ca, ci, ch, cs, 'skipped')
        else
          enqueue(ca, ci, ch, pri, nil)
        end
      end
    end
    if not finished then
      need, from = 1, cur
      break
    end
    i = i + 6 + 2 * cnt
    done = done + 1
    if done % 32 == 0 and elapsed() > STEPMICROS then break end
  end
  if done < total then
    redis.call('ZADD', BD, I(now), me)
    redis.call('HSET', BDN, me, done)
  else
    redis.call('ZREM', BD, me)
    redis.call('HDEL', BDN, me)
  end
  return {done, need, from}
end
`

// Complete: app, id, token ("" for none), outcome, seq, log, then the
// window of children (see bubblePrelude). Returns {done, need, from}.
const completeBody = bubblePrelude + `
local app, id, token, outcome = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local h = H(app, id)
local st = redis.call('HGET', h, 'state')
if token ~= '' then
  if not held(h, token) then return lost() end
elseif not st then
  return redis.error_reply('STOLOS notfound')
elseif live(h) and redis.call('HGET', h, 'tr') ~= '1' then
  return redis.error_reply('STOLOS held ' .. redis.call('HGET', h, 'owner'))
end
if readding(app .. '\t' .. id) then return redis.error_reply('STOLOS resetting') end
if token ~= '' then record(app, id, h, ARGV[6], now, outcome, ARGV[7]) end
local p = pri(h)
detach(app, id, h)
clearlease(h)
unqueue(h)
redis.call('HDEL', h, 'att')
redis.call('HSET', h, 'out', outcome)
setstate(app, id, h, st, 'completed')
return bubble(app, id, p, 8)
`

// Bubble: app, id of a completed job, then the window of its children (see
// bubblePrelude) from the marker's count. Returns {done, need, from};
// {-1, 0, 0} when there is no marker (finished), the marker is a readd's,
// or the job is no longer completed (the marker is dropped); {the marker's
// count, 0, 0}, doing nothing, when the window does not start there.
const bubbleBody = bubblePrelude + `
local app, id = ARGV[2], ARGV[3]
local me = app .. '\t' .. id
local d = redis.call('HGET', BDN, me)
if not d or readding(me) then return {-1, 0, 0} end
local h = H(app, id)
if redis.call('HGET', h, 'state') ~= 'completed' then
  redis.call('ZREM', BD, me)
  redis.call('HDEL', BDN, me)
  return {-1, 0, 0}
end
if tonumber(d) ~= tonumber(ARGV[4]) then return {tonumber(d), 0, 0} end
return bubble(app, id, pri(h), 4)
`

// Unfinished: idle (µs), n. Returns the members of bd idle for idle, each
// followed by 1 for a readd, else 0.
const unfinishedBody = `
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', P .. 'bd', '-inf', I(now - tonumber(ARGV[2])), 'LIMIT', 0, tonumber(ARGV[3]))) do
  out[#out+1] = m
  out[#out+1] = readding(m) and 1 or 0
end
return out
`

// Fail: app, id, token, outcome, maxRetry, delay (µs), seq, log, and "1"
// for Defer (nothing ran: no attempt counted or recorded, the seq given
// back). Returns 1 if final.
const failBody = `
local app, id, token, outcome, maxr, delay = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local h = H(app, id)
if not held(h, token) then return lost() end
if ARGV[10] == '1' then
  detach(app, id, h)
  clearlease(h)
  if ARGV[8] ~= '0' and redis.call('HGET', h, 'try') == ARGV[8] then
    redis.call('HINCRBY', h, 'try', -1)
  end
  redis.call('HSET', h, 'out', outcome)
  local nb = nil
  if delay > 0 then nb = now + delay end
  enqueue(app, id, h, pri(h), nb)
  return 0
end
record(app, id, h, ARGV[8], now, outcome, ARGV[9])
local att = tonumber(redis.call('HGET', h, 'att') or '0') + 1
detach(app, id, h)
clearlease(h)
redis.call('HSET', h, 'att', att, 'out', outcome)
if att >= maxr then
  unqueue(h)
  setstate(app, id, h, 'pending', 'failed')
  return 1
end
local nb = nil
if delay > 0 then nb = now + delay end
enqueue(app, id, h, pri(h), nb)
return 0
`

// Park: app, id, token, seq, n, then n parents (app, id), then per
// ancestor to queue: app, id, skip. Returns {ready, {job fields of each
// parent, as they were before Park changed them}}. With n = -1 (QueueAbove:
// a step of a wide Park, which keeps the child) it only queues the
// ancestors, stopping once it has run for stepTime (looked at every 32),
// and returns {0, {}, the number of ancestors handled}.
const parkBody = `
local app, id, token, seq, np = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local h = H(app, id)
if not held(h, token) then return lost() end
local keep = np < 0
if keep then np = 0 end
local last = 6 + 2 * np
local ready = not keep
local jobs = {}
for i = 7, last, 2 do
  local ph = H(ARGV[i], ARGV[i+1])
  if redis.call('HGET', ph, 'state') ~= 'completed' then ready = false end
  jobs[#jobs+1] = job(ph)
end
local handled = 0
if not ready then
  local p = pri(h)
  for i = last + 1, #ARGV, 3 do
    local pa, pi, skip = ARGV[i], ARGV[i+1], ARGV[i+2] == '1'
    local ph = H(pa, pi)
    local ps = redis.call('HGET', ph, 'state')
    if not ps then
      create(pa, pi, ph, skip, p)
    elseif ps == 'pending' and not redis.call('HGET', ph, 'q') and not live(ph) then
      enqueue(pa, pi, ph, p, nil)
    end
    handled = handled + 1
    if keep and handled % 32 == 0 then
      local t = redis.call('TIME')
      if tonumber(t[1]) * 1000000 + tonumber(t[2]) - now > @STEPMICROS@ then break end
    end
  end
end
if keep then return {0, jobs, handled} end
if not ready then
  detach(app, id, h)
  clearlease(h)
  unqueue(h)
  if seq ~= '0' and redis.call('HGET', h, 'try') == seq then
    redis.call('HINCRBY', h, 'try', -1) -- nothing ran: the number is given back
  end
end
return {ready and 1 or 0, jobs}
`

// SetState: app, id, state, outcome.
const setStateBody = `
local app, id, new, outcome = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local h = H(app, id)
local st = redis.call('HGET', h, 'state')
if not st then return redis.error_reply('STOLOS notfound') end
revoke(h)
if new ~= 'pending' then
  detach(app, id, h)
  unqueue(h)
  if redis.call('HGET', h, 'tr') == '1' then clearlease(h) end -- nothing runs under it
  place(app, id, h)
end
setstate(app, id, h, st, new)
redis.call('HSET', h, 'out', outcome)
return 1
`

// Held: app, id, token. Returns 1 if the lease is held, else 0.
const heldBody = `
return held(H(ARGV[2], ARGV[3]), ARGV[4]) and 1 or 0
`

// Get: (app, id) pairs. Returns {now, {job fields}...}.
const getBody = `
local jobs = {}
for i = 2, #ARGV, 2 do jobs[#jobs+1] = job(H(ARGV[i], ARGV[i+1])) end
return {I(now), jobs}
`

// History: (app, id) pairs. Returns the records of each job's ring, in no
// order.
const historyBody = `
local out = {}
for i = 2, #ARGV, 2 do out[#out+1] = redis.call('HVALS', K(ARGV[i]) .. 'a:' .. ARGV[i+1]) end
return out
`

// AppHistory: app, since, until (µs; until exclusive, "+inf" for none),
// offset, count. Returns {id, record}... of the attempts that ended in
// the window, in order of end, from offset.
const appHistoryBody = `
local app = ARGV[2]
local k = K(app)
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', k .. 'h', ARGV[3], ARGV[4], 'LIMIT', tonumber(ARGV[5]), tonumber(ARGV[6]))) do
  local c = string.find(m, ':', 1, true)
  local id = string.sub(m, c + 1)
  out[#out+1] = {id, redis.call('HGET', k .. 'a:' .. id, string.sub(m, 1, c - 1)) or ''}
end
return out
`

// ListPage: app, state, after (exclusive; "" for the start), count.
// Returns {now, ids, {job fields}...}.
const listPageBody = `
local app, st, after, n = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local from = '-'
if after ~= '' then from = '(' .. after end
local ids = redis.call('ZRANGEBYLEX', K(app) .. 's:' .. st, from, '+', 'LIMIT', 0, n)
local jobs = {}
for _, id in ipairs(ids) do jobs[#jobs+1] = job(H(app, id)) end
return {I(now), ids, jobs}
`

// Count: app. Returns {pending, completed, failed, skipped, queued, claimed,
// head age}: the head age in microseconds, of the first waiting entry (0 if
// none, or if it has no qt).
const countBody = `
local k = K(ARGV[2])
local r = {}
for _, s in ipairs({'pending', 'completed', 'failed', 'skipped'}) do r[#r+1] = redis.call('ZCARD', k .. 's:' .. s) end
r[#r+1] = redis.call('ZCARD', k .. 'q') + redis.call('ZCARD', k .. 'd') + redis.call('ZCARD', k .. 'lq')
r[#r+1] = redis.call('ZCOUNT', k .. 'lq', '(' .. I(now), '+inf') + redis.call('ZCOUNT', k .. 'lh', '(' .. I(now), '+inf')
local head = redis.call('ZRANGE', k .. 'q', 0, 0)
local qt = head[1] and redis.call('HGET', k .. 'j:' .. string.sub(head[1], 17), 'qt')
r[#r+1] = qt and I(math.max(now - tonumber(qt), 0)) or '0'
return r
`

// WaitCheck: app. Returns {claimable now (1/0), now, next} where next is
// the earliest expiry of a queued job's lease or retry time ("" if none).
const waitCheckBody = `
local k = K(ARGV[2])
if redis.call('ZCARD', k .. 'q') > 0 then return {1, I(now), ''} end
local nxt = nextdue(k)
if nxt ~= '' and tonumber(nxt) <= now then return {1, I(now), nxt} end
return {0, I(now), nxt}
`

// scripts holds the loaded scripts of one backend.
type scripts struct {
	submit, readd, claim, claimApps, heads, acquire, renew, release, held, complete, bubble, unfinished, fail, park, setState, get, listPage, count, waitCheck *goredis.Script
	history, appHistory                                                                                                                                        *goredis.Script
	install                                                                                                                                                    *goredis.Script // without the prelude

}

// installBody makes the installation marker if there is none, and returns
// it, and whether job state was there without one (1) or not (0). ARGV[1]
// is the key prefix, ARGV[2] a new random id.
const installBody = `
local P = ARGV[1]
local m = redis.call('GET', P .. 'installation')
if m then return {m, 0} end
redis.call('SET', P .. 'installation', ARGV[2])
return {ARGV[2], redis.call('EXISTS', P .. 'seq', P .. 'tok')}
`

func newScripts() scripts {
	pre, post, _ := strings.Cut(store.AbandonedOutcome("\x00"), "\x00")
	r := strings.NewReplacer(
		"@ABANDONPRE@", luaString(pre),
		"@ABANDONPOST@", luaString(post),
		"@DEFAULTPRI@", strconv.Itoa(store.DefaultPriority),
		"@RELEASED@", luaString(store.ReleasedOutcome(false)),
		"@REVOKED@", luaString(store.ReleasedOutcome(true)),
		"@STEPMICROS@", strconv.FormatInt(stepTime.Microseconds(), 10),
		"@Created@", strconv.Itoa(int(store.Created)),
		"@CreatedSkipped@", strconv.Itoa(int(store.CreatedSkipped)),
		"@Exists@", strconv.Itoa(int(store.Exists)),
		"@Requeued@", strconv.Itoa(int(store.Requeued)),
		"@AlreadyQueued@", strconv.Itoa(int(store.AlreadyQueued)),
	)
	mk := func(body string) *goredis.Script {
		src := r.Replace(prelude + body)
		return goredis.NewScript(src)
	}
	s := scripts{
		submit:     mk(submitBody),
		readd:      mk(readdBody),
		claim:      mk(claimFuncs + claimBody),
		claimApps:  mk(claimFuncs + claimAppsBody),
		heads:      mk(claimFuncs + headsBody),
		acquire:    mk(acquireBody),
		renew:      mk(renewBody),
		release:    mk(releaseBody),
		held:       mk(heldBody),
		complete:   mk(completeBody),
		bubble:     mk(bubbleBody),
		unfinished: mk(unfinishedBody),
		fail:       mk(failBody),
		park:       mk(parkBody),
		setState:   mk(setStateBody),
		get:        mk(getBody),
		listPage:   mk(listPageBody),
		count:      mk(countBody),
		waitCheck:  mk(waitCheckBody),
		history:    mk(historyBody),
		appHistory: mk(appHistoryBody),
	}
	s.install = goredis.NewScript(installBody)
	return s
}

// luaString quotes s as a Lua string literal.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "\\%03d", s[i])
	}
	b.WriteByte('"')
	return b.String()
}
