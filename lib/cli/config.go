package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/confredis"
	"github.com/stolos-sched/stolos/lib/jobid"
)

// ConfigFlags are the flags that say where the app configuration is and
// how job ids look. Every tool registers them with the same names, so one
// -config file serves all tools.
type ConfigFlags struct {
	TasksJSON       string
	Validations     string
	DefaultTemplate string
	Delimiter       string
	Backend         string
	Redis           RedisFlags // the configuration backend "redis"
}

// RedisFlags are the connection settings of a Redis server.
type RedisFlags struct {
	Host      string
	Port      int
	DB        int
	Password  string
	TLS       bool
	KeyPrefix string
}

// Register adds the configuration flags to fs.
func (c *ConfigFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.TasksJSON, "tasks-json", "", "the apps' configuration, a tasks.json `FILE` (env STOLOS_TASKS_JSON)")
	fs.StringVar(&c.Validations, "job-id-validations", "", "identifier rules, a JSON `FILE` (env STOLOS_JOB_ID_VALIDATIONS)")
	fs.StringVar(&c.DefaultTemplate, "job-id-default-template", "", "job id `TEMPLATE` of apps without job_id (env STOLOS_JOB_ID_DEFAULT_TEMPLATE)")
	fs.StringVar(&c.Delimiter, "job-id-delimiter", "_", "`STRING` between identifiers of a job id (env STOLOS_JOB_ID_DELIMITER)")
	fs.StringVar(&c.Backend, "configuration-backend", "json", "where the configuration is: json or redis (env STOLOS_CONFIGURATION_BACKEND)")
	c.Redis.Register(fs, "redis-", "configuration backend redis", "stolos/")
}

// Register adds the flags PREFIXhost, PREFIXport, PREFIXdb, PREFIXpassword,
// PREFIXtls and PREFIXkey-prefix, each described as being for what.
func (r *RedisFlags) Register(fs *flag.FlagSet, prefix, what, keyPrefix string) {
	env := func(name string) string {
		return " (env STOLOS_" + strings.ToUpper(strings.ReplaceAll(prefix+name, "-", "_")) + ")"
	}
	fs.StringVar(&r.Host, prefix+"host", "localhost", what+": `HOST`"+env("host"))
	fs.IntVar(&r.Port, prefix+"port", 6379, what+": `PORT`"+env("port"))
	fs.IntVar(&r.DB, prefix+"db", 0, what+": database `N`"+env("db"))
	fs.StringVar(&r.Password, prefix+"password", "", what+": `PASSWORD`"+env("password"))
	fs.BoolVar(&r.TLS, prefix+"tls", false, what+": connect with TLS"+env("tls"))
	fs.StringVar(&r.KeyPrefix, prefix+"key-prefix", keyPrefix, what+": `PREFIX` of every key"+env("key-prefix"))
}

// ConfigBackends are the configuration backends, the default first.
var ConfigBackends = []string{"json", "redis"}

// RedisOptions are the settings of the configuration backend redis.
func (c *ConfigFlags) RedisOptions() confredis.Options {
	r := c.Redis
	return confredis.Options{Host: r.Host, Port: r.Port, DB: r.DB, Password: r.Password, TLS: r.TLS, KeyPrefix: r.KeyPrefix}
}

// Options are the job id settings of the configuration flags.
func (c *ConfigFlags) Options() (config.Options, error) {
	opts := config.Options{DefaultTemplate: c.DefaultTemplate, Delimiter: c.Delimiter}
	if c.Delimiter == "" {
		return opts, errors.New("-job-id-delimiter is empty")
	}
	if c.Validations != "" {
		data, err := os.ReadFile(c.Validations)
		if err != nil {
			return opts, fmt.Errorf("job id validations: %v", pathErr(err))
		}
		if opts.Validations, err = jobid.ParseValidations(data); err != nil {
			return opts, fmt.Errorf("%s: %v", c.Validations, err)
		}
	}
	return opts, nil
}

// Load reads and checks the configuration, from the JSON file or from
// Redis (lib/confredis). Any error is a usage error (exit 2): the
// configuration is the tool's input.
func (c *ConfigFlags) Load(ctx context.Context) (*config.Config, error) {
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	var data []byte
	var where string
	switch c.Backend {
	case "json":
		if c.TasksJSON == "" {
			return nil, errors.New("no configuration: set -tasks-json FILE or STOLOS_TASKS_JSON")
		}
		if data, err = os.ReadFile(c.TasksJSON); err != nil {
			return nil, fmt.Errorf("tasks json: %v", pathErr(err))
		}
		where = c.TasksJSON
	case "redis":
		apps, err := confredis.Read(ctx, c.RedisOptions())
		if err != nil {
			return nil, fmt.Errorf("configuration backend redis: %v", err)
		}
		data, where = confredis.Document(apps), c.RedisOptions().Where()
	default:
		return nil, fmt.Errorf("unknown -configuration-backend %q (want json or redis)", c.Backend)
	}
	cfg, err := config.Parse(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	return cfg, nil
}

// pathErr words a file error as "PATH: reason".
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}
