package redis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// FetchConfig reads a configuration kept in Redis (-configuration-backend
// redis) and returns it as a tasks.json document. Each app is a hash at
// KeyPrefix+APP whose fields are the app's keys and whose values are JSON
// (the original stored Python literals): HSET stolos/app2 depends_on
// '{"app_name": ["app1"]}'. Hashes have no order, so apps come out sorted
// by name.
func FetchConfig(ctx context.Context, o Options) ([]byte, error) {
	b, err := Open(ctx, o, io.Discard)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var keys []string
	iter := b.c.Scan(ctx, 0, globEscape(o.KeyPrefix)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("redis %s: scan %s*: %v", b.addr, o.KeyPrefix, err)
	}
	sort.Strings(keys)
	var doc bytes.Buffer
	doc.WriteByte('{')
	n := 0
	for _, key := range keys {
		typ, err := b.c.Type(ctx, key).Result()
		if err != nil {
			return nil, fmt.Errorf("redis %s: %s: %v", b.addr, key, err)
		}
		if typ != "hash" {
			continue // not an app (stolos keeps no other keys under a config prefix)
		}
		fields, err := b.c.HGetAll(ctx, key).Result()
		if err != nil {
			return nil, fmt.Errorf("redis %s: %s: %v", b.addr, key, err)
		}
		app := strings.TrimPrefix(key, o.KeyPrefix)
		if n > 0 {
			doc.WriteByte(',')
		}
		n++
		name, _ := json.Marshal(app)
		doc.Write(name)
		doc.WriteString(":{")
		names := make([]string, 0, len(fields))
		for f := range fields {
			names = append(names, f)
		}
		sort.Strings(names)
		for i, f := range names {
			v := fields[f]
			if !json.Valid([]byte(v)) {
				return nil, fmt.Errorf("redis %s: app %s: field %s: not JSON: %.60q", b.addr, app, f, v)
			}
			if i > 0 {
				doc.WriteByte(',')
			}
			fn, _ := json.Marshal(f)
			doc.Write(fn)
			doc.WriteByte(':')
			doc.WriteString(v)
		}
		doc.WriteByte('}')
	}
	doc.WriteByte('}')
	if n == 0 {
		return nil, fmt.Errorf("redis %s: no apps under the key prefix %q", b.addr, o.KeyPrefix)
	}
	return doc.Bytes(), nil
}

// globEscape escapes the pattern characters of SCAN MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
