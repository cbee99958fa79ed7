// Package conftool is stolos-config: it loads a tasks.json file into the
// configuration backend redis (-load FILE), checked first and written in
// one step, and writes the configuration as a tasks.json document
// (-dump), from either backend. See stolos-config(1).
package conftool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/confredis"
)

type flags struct {
	Load   string
	Dump   bool
	Config cli.ConfigFlags
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-config", "stolos-config -load FILE | -dump", stdin, stdout, stderr)
	f := &flags{}
	t.Flags.StringVar(&f.Load, "load", "", "check the tasks.json `FILE` and make it the configuration of the backend redis, in one step (env STOLOS_LOAD)")
	t.Flags.BoolVar(&f.Dump, "dump", false, "write the configuration as a tasks.json document (env STOLOS_DUMP)")
	f.Config.Register(t.Flags)
	return t, f
}

var command = cli.Command[*flags]{New: newTool, Run: run}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return command.Tool() }

// Main runs stolos-config.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return command.Main(args, stdin, stdout, stderr)
}

func run(ctx context.Context, t *cli.Tool, f *flags, rest []string) error {
	switch {
	case len(rest) > 0:
		return cli.NoArgs(rest)
	case (f.Load != "") == f.Dump:
		return cli.Usagef("give -load FILE or -dump")
	case f.Load != "" && f.Config.Backend != "redis":
		return cli.Usagef("-load writes the configuration backend redis: set -configuration-backend redis (a json configuration is its file)")
	case f.Load != "":
		return load(ctx, f)
	}
	cfg, err := f.Config.Load(ctx)
	if err != nil {
		return cli.Invalid(err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, confredis.Document(apps(cfg)), "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err = t.Stdout.Write(b.Bytes())
	return err
}

// load checks FILE as every tool would read it (with the job id flags) and
// writes it: a file that does not load changes nothing.
func load(ctx context.Context, f *flags) error {
	data, err := os.ReadFile(f.Load)
	if err != nil {
		return cli.Invalid(err)
	}
	opts, err := f.Config.Options()
	if err != nil {
		return cli.Invalid(err)
	}
	cfg, err := config.Parse(data, opts)
	if err != nil {
		return cli.Invalid(fmt.Errorf("%s: %v", f.Load, err))
	}
	return confredis.Write(ctx, f.Config.RedisOptions(), apps(cfg))
}

// apps are the apps of cfg as written: their keys in order, with their
// JSON values.
func apps(cfg *config.Config) []confredis.App {
	out := make([]confredis.App, 0, len(cfg.Apps))
	for _, a := range cfg.Apps {
		ca := confredis.App{Name: a.Name}
		for _, km := range a.Raw {
			ca.Fields = append(ca.Fields, confredis.Field{Key: km.Key, Value: km.Value})
		}
		out = append(out, ca)
	}
	return out
}
