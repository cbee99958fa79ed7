package expand

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/jobid"
)

// maxOffset bounds N in today-N and today+N: ten thousand years of days.
const maxOffset = 3_652_425

// Today returns the calendar day of now in loc, as a time at midnight UTC
// (how a date rule's values parse), the day relative dates count from.
func Today(now time.Time, loc *time.Location) time.Time {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// relDate reports whether s is a relative date: today, yesterday, today-N
// or today+N (N decimal days), and its offset from today in days. ok is
// false for anything else; err is set for a word that starts like one but
// is malformed (today-x, today-), so that it is not taken for a value.
func relDate(s string) (days int, ok bool, err error) {
	switch s {
	case "today":
		return 0, true, nil
	case "yesterday":
		return -1, true, nil
	}
	rest, found := strings.CutPrefix(s, "today")
	if !found || rest == "" || rest[0] != '-' && rest[0] != '+' {
		return 0, false, nil
	}
	digits := rest[1:]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, true, fmt.Errorf("%q: want today, yesterday, today-N or today+N (N days)", s)
	}
	n, e := strconv.Atoi(digits)
	if e != nil || n > maxOffset {
		return 0, true, fmt.Errorf("%q: more than %d days from today", s, maxOffset)
	}
	if rest[0] == '-' {
		n = -n
	}
	return n, true, nil
}

// resolve returns s with a relative date made the day it names, written in
// r's layout; other values come back as they are. A relative date of an
// identifier without a date rule is an error: written as a value, it would
// make job ids that name no day.
func resolve(r *jobid.Rule, s string, today time.Time) (string, error) {
	days, ok, err := relDate(s)
	if !ok || err != nil {
		return s, err
	}
	if !r.IsDate() {
		return "", fmt.Errorf("%q is a relative date, but the identifier has no date rule (see -job-id-validations)", s)
	}
	return today.AddDate(0, 0, days).Format(r.Layout), nil
}
