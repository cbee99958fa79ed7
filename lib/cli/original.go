package cli

import (
	"flag"
	"strings"
)

// The original Stolos's spelling of flags: its long flags have underscores
// (--app_name, --job_id, --max_retry, --tasks_json) where ours have dashes,
// and it takes job ids with --job_id where our tools take arguments.

// originalSpelling rewrites the flags of args spelled the original's way,
// with "_" for "-" (--job_id, -max_retry=3), to the names of fs's flags,
// up to the first argument that is not a flag. A name that is itself a flag
// of fs, or whose dashed form is not, is left as it is.
func originalSpelling(fs *flag.FlagSet, args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			break
		}
		dashes := "-"
		if strings.HasPrefix(a, "--") {
			dashes = "--"
		}
		name, value, hasValue := strings.Cut(a[len(dashes):], "=")
		if fs.Lookup(name) == nil && strings.Contains(name, "_") {
			if alias := strings.ReplaceAll(name, "_", "-"); fs.Lookup(alias) != nil {
				if out == nil {
					out = append([]string(nil), args...)
				}
				name = alias
				out[i] = dashes + name
				if hasValue {
					out[i] += "=" + value
				}
			}
		}
		// A flag that takes a value and has none after "=" takes the next
		// argument, which is not a flag however it looks.
		if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) {
			i++
		}
	}
	if out == nil {
		return args
	}
	return out
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// jobIDs is the value of -job-id: job ids given as flags, taken before the
// arguments.
type jobIDs []string

func (j *jobIDs) String() string {
	if j == nil {
		return ""
	}
	return strings.Join(*j, " ")
}

func (j *jobIDs) Set(s string) error {
	*j = append(*j, s)
	return nil
}

// input marks -job-id as input, not a setting: neither the environment
// nor a -config file sets it (STOLOS_JOB_ID describes the job a command
// runs in, see lib/command).
func (j *jobIDs) input() {}

// IsInput says whether flag f is input rather than a setting (-job-id):
// only the command line sets it.
func IsInput(f *flag.Flag) bool {
	_, ok := f.Value.(interface{ input() })
	return ok
}

// JobIDFlag registers -job-id JOB_ID (--job_id, as the original spelled
// it), which may be repeated: job ids taken before the arguments (Records).
func (t *Tool) JobIDFlag() {
	t.Flags.Var(&t.jobIDs, "job-id", "take `JOB_ID` as the first argument; may be repeated (no environment variable)")
}

// JobIDs are the job ids given with -job-id.
func (t *Tool) JobIDs() []string { return t.jobIDs }
