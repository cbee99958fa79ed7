// Package confredis keeps the apps' configuration in Redis
// (-configuration-backend redis), for every tool: one hash per app at
// PREFIX+APP whose fields are the app's keys and whose values are JSON (the
// original stored Python literals), and the list PREFIX of the app names in
// their order, which the configuration's order is. Read reads it all in one
// script, and Write replaces it all in one script, so a reader never sees
// half of a load.
//
// It speaks RESP2 itself over the standard library's net and crypto/tls:
// the graph tools read the configuration and link no third-party code, and
// three commands (AUTH, SELECT, EVAL) are all it needs.
package confredis

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options say where the configuration is.
type Options struct {
	Host      string
	Port      int
	DB        int
	Password  string
	TLS       bool
	KeyPrefix string
	// Timeout bounds the whole exchange; zero means 30s.
	Timeout time.Duration
}

func (o Options) addr() string {
	return net.JoinHostPort(strings.Trim(o.Host, "[]"), strconv.Itoa(o.Port))
}

// Where names the configuration in messages: "redis HOST:PORT/DB PREFIX".
func (o Options) Where() string {
	return fmt.Sprintf("redis %s/%d %s", o.addr(), o.DB, o.KeyPrefix)
}

// App is one app of a configuration: its name and its keys with their
// JSON values, in order.
type App struct {
	Name   string
	Fields []Field
}

// Field is one key of an app and its JSON value.
type Field struct {
	Key   string
	Value json.RawMessage
}

// readScript returns the app names of the list PREFIX (ARGV[1]), each
// followed by its hash's fields and values, or nil when there is no list.
const readScript = `
local p = ARGV[1]
local t = redis.call('TYPE', p)['ok']
if t == 'none' then return false end
if t ~= 'list' then return redis.error_reply('the key ' .. p .. ' is a ' .. t .. ', not the list of apps') end
local out = {}
for _, a in ipairs(redis.call('LRANGE', p, 0, -1)) do
  out[#out + 1] = a
  out[#out + 1] = redis.call('HGETALL', p .. a)
end
return out
`

// writeScript replaces the configuration under PREFIX (ARGV[1]) by the
// apps of ARGV[2..]: a count, then for each app its name, its number of
// fields and the fields and values. Every check comes before the first
// write (a script that fails halfway keeps what it wrote).
const writeScript = `
local p = ARGV[1]
local n = tonumber(ARGV[2])
local t = redis.call('TYPE', p)['ok']
if t ~= 'none' and t ~= 'list' then return redis.error_reply('the key ' .. p .. ' is a ' .. t .. ', not the list of apps') end
local apps, i = {}, 3
for k = 1, n do
  local a, nf = ARGV[i], tonumber(ARGV[i + 1])
  local at = redis.call('TYPE', p .. a)['ok']
  if at ~= 'none' and at ~= 'hash' then return redis.error_reply('the key ' .. p .. a .. ' is a ' .. at .. ', not an app') end
  apps[k] = {a, i + 2, nf}
  i = i + 2 + 2 * nf
end
for _, a in ipairs(redis.call('LRANGE', p, 0, -1)) do redis.call('DEL', p .. a) end
redis.call('DEL', p)
for _, app in ipairs(apps) do
  local key = p .. app[1]
  redis.call('DEL', key)
  redis.call('RPUSH', p, app[1])
  for j = 0, app[3] - 1 do
    redis.call('HSET', key, ARGV[app[2] + 2 * j], ARGV[app[2] + 2 * j + 1])
  end
end
return n
`

// ErrNone is Read's error when no configuration is stored under the
// prefix.
var ErrNone = errors.New("no configuration")

// Read reads the configuration: the apps in their order, each app's keys
// in name order (a hash keeps none). A value that is not JSON is an error
// naming app and key.
func Read(ctx context.Context, o Options) ([]App, error) {
	var apps []App
	err := with(ctx, o, func(c *conn) error {
		r, err := c.do("EVAL", readScript, "0", o.KeyPrefix)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("%w under the key prefix %q (load one with stolos-config -load FILE)", ErrNone, o.KeyPrefix)
		}
		list, _ := r.([]any)
		for i := 0; i+1 < len(list); i += 2 {
			name, _ := list[i].(string)
			kv, _ := list[i+1].([]any)
			a := App{Name: name}
			for j := 0; j+1 < len(kv); j += 2 {
				k, _ := kv[j].(string)
				v, _ := kv[j+1].(string)
				if !json.Valid([]byte(v)) {
					return fmt.Errorf("app %s: key %s: not JSON: %.60q", name, k, v)
				}
				a.Fields = append(a.Fields, Field{k, json.RawMessage(v)})
			}
			sort.Slice(a.Fields, func(x, y int) bool { return a.Fields[x].Key < a.Fields[y].Key })
			apps = append(apps, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Where(), err)
	}
	return apps, nil
}

// Write replaces the configuration by apps, in one step: readers see the
// old one or the new one. Values are stored compact.
func Write(ctx context.Context, o Options, apps []App) error {
	args := []string{"EVAL", writeScript, "0", o.KeyPrefix, strconv.Itoa(len(apps))}
	for _, a := range apps {
		args = append(args, a.Name, strconv.Itoa(len(a.Fields)))
		for _, f := range a.Fields {
			var v bytes.Buffer
			if err := json.Compact(&v, f.Value); err != nil {
				return fmt.Errorf("app %s: key %s: %v", a.Name, f.Key, err)
			}
			args = append(args, f.Key, v.String())
		}
	}
	err := with(ctx, o, func(c *conn) error {
		_, err := c.do(args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", o.Where(), err)
	}
	return nil
}

// Document writes apps as a tasks.json document: compact, or with indent
// (one app per line of the outer object, "  " per level).
func Document(apps []App) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, a := range apps {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(a.Name)
		b.Write(name)
		b.WriteString(":{")
		for j, f := range a.Fields {
			if j > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(f.Key)
			b.Write(k)
			b.WriteByte(':')
			b.Write(f.Value)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes()
}

// with runs fn on a connection to the server, authenticated and on the
// database of o, closed after.
func with(ctx context.Context, o Options, fn func(*conn) error) error {
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	nc, err := d.DialContext(ctx, "tcp", o.addr())
	if err != nil {
		return err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if o.TLS {
		tc := tls.Client(nc, &tls.Config{ServerName: strings.Trim(o.Host, "[]"), MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		nc = tc
	}
	c := &conn{r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
	if o.Password != "" {
		if _, err := c.do("AUTH", o.Password); err != nil {
			return err
		}
	}
	if o.DB != 0 {
		if _, err := c.do("SELECT", strconv.Itoa(o.DB)); err != nil {
			return err
		}
	}
	err = fn(c)
	if ctx.Err() != nil && err != nil {
		return fmt.Errorf("%v (%v)", err, context.Cause(ctx))
	}
	return err
}

// conn is a RESP2 connection.
type conn struct {
	r *bufio.Reader
	w *bufio.Writer
}

// serverError is an error reply.
type serverError string

func (e serverError) Error() string { return string(e) }

// do sends one command and reads its reply: a string, an int64, nil, a
// []any, or a serverError.
func (c *conn) do(args ...string) (any, error) {
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.reply()
}

func (c *conn) reply() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("bad reply: empty line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, serverError(strings.TrimPrefix(strings.TrimPrefix(line[1:], "ERR "), "Error running script "))
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := length(line)
		if n < 0 || err != nil {
			return nil, err
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, err := length(line)
		if n < 0 || err != nil {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.reply(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("bad reply %q", line)
}

// length is the length in the header line of a bulk string or an array
// ("$5", "*2"): -1 for a null one, with no error.
func length(line string) (int, error) {
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < -1 {
		return -1, fmt.Errorf("bad reply %q", line)
	}
	return n, nil
}
