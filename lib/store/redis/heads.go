package redis

import (
	"context"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stolos-sched/stolos/lib/store"
)

// headsScript reads the head of each app's queue, KEYS the apps' key
// prefixes (K in scripts.go): the first waiting entry's priority, or the
// best of the first 100 leases or retry delays that have ended (Claim
// makes those claimable first); "" for none. A read: it changes nothing,
// and checks no installation marker (the Claim that follows does).
var headsScript = goredis.NewScript(`
local tm = redis.call('TIME')
local now = string.format('%.0f', tonumber(tm[1]) * 1000000 + tonumber(tm[2]))
local out = {}
for i, k in ipairs(KEYS) do
  local best = false
  local top = redis.call('ZRANGE', k .. 'q', 0, 0, 'WITHSCORES')
  if #top > 0 then best = tonumber(top[2]) end
  for _, z in ipairs({'lq', 'd'}) do
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', k .. z, '-inf', now, 'LIMIT', 0, 100)) do
      local p = tonumber(redis.call('HGET', k .. 'j:' .. id, 'pri') or ARGV[1])
      if not best or p < best then best = p end
    end
  end
  out[i] = best and string.format('%d', best) or ''
end
return out
`)

// Heads reads the head of each app's queue (see store.Backend): one
// script.
func (b *Backend) Heads(ctx context.Context, apps []string) ([]store.Head, error) {
	keys := make([]string, len(apps))
	for i, a := range apps {
		keys[i] = b.appKey(a)
	}
	v, err := headsScript.Run(ctx, b.c, keys, strconv.Itoa(store.DefaultPriority)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis %s: heads: %v", b.addr, err)
	}
	out := make([]store.Head, len(apps))
	for i, s := range v {
		if s == "" {
			continue
		}
		p, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("redis %s: heads: bad priority %q", b.addr, s)
		}
		out[i] = store.Head{Ready: true, Priority: p}
	}
	return out, nil
}

// appKey is the prefix of the keys of app (K in scripts.go).
func (b *Backend) appKey(app string) string {
	return b.prefix + strconv.Itoa(len(app)) + ":" + app + ":"
}
