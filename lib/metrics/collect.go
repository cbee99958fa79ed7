package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stolos-sched/stolos/lib/store"
)

// Buckets are the upper bounds, in seconds, of the attempt duration
// histogram: 10s to a day.
var Buckets = []float64{10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400}

// reader is what the collector reads of the backend (a sched.Sched).
type reader interface {
	Count(ctx context.Context, app string) (store.Counts, error)
	AppHistory(ctx context.Context, app string, since, until time.Time, fn func(store.Attempt) error) error
}

var (
	descJobs = prometheus.NewDesc("stolos_jobs",
		"Jobs of the app in each state.", []string{"app", "state"}, nil)
	descQueued = prometheus.NewDesc("stolos_jobs_queued",
		"Jobs of the app with a queue entry (waiting, delayed or claimed).", []string{"app"}, nil)
	descClaimed = prometheus.NewDesc("stolos_jobs_claimed",
		"Jobs of the app held under a live lease.", []string{"app"}, nil)
	descHeadAge = prometheus.NewDesc("stolos_queue_head_age_seconds",
		"How long the job at the head of the app's queue (the next a worker claims) has been queued; 0 when none waits.", []string{"app"}, nil)
	descWindow = prometheus.NewDesc("stolos_window_seconds",
		"Length of the window of the stolos_window_* metrics: attempts that ended within it before the scrape.", nil, nil)
	descDuration = prometheus.NewDesc("stolos_window_attempt_duration_seconds",
		"Durations of the attempts of the app that ended in the window, by result (over the window: its counts can go down; do not rate() it).", []string{"app", "result"}, nil)
)

// collector computes the metrics of apps at each Collect: per app one
// Count (O(1) in the number of jobs) and, with a window, the attempts that
// ended within it (AppHistory).
type collector struct {
	ctx    context.Context
	r      reader
	apps   []string
	window time.Duration // 0: no stolos_window_* metrics
	now    func() time.Time
}

// Describe sends the descriptions of every metric.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJobs, descQueued, descClaimed, descHeadAge} {
		ch <- d
	}
	if c.window > 0 {
		for _, d := range []*prometheus.Desc{descWindow, descDuration} {
			ch <- d
		}
	}
}

// Collect reads the backend and sends the metrics; an error reading an
// app is sent as an invalid metric, which fails the gathering.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	if c.window > 0 {
		ch <- prometheus.MustNewConstMetric(descWindow, prometheus.GaugeValue, c.window.Seconds())
	}
	for _, app := range c.apps {
		if err := c.collect(ch, app, now); err != nil {
			ch <- prometheus.NewInvalidMetric(descJobs, &readError{app, err})
			return
		}
	}
}

func (c *collector) collect(ch chan<- prometheus.Metric, app string, now time.Time) error {
	n, err := c.r.Count(c.ctx, app)
	if err != nil {
		return err
	}
	for _, st := range store.States {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(n.States[st]), app, string(st))
	}
	ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(n.Queued), app)
	ch <- prometheus.MustNewConstMetric(descClaimed, prometheus.GaugeValue, float64(n.Claimed), app)
	ch <- prometheus.MustNewConstMetric(descHeadAge, prometheus.GaugeValue, n.HeadAge.Seconds(), app)
	if c.window <= 0 {
		return nil
	}
	hs := map[store.Result]*histogram{}
	for _, r := range store.Results {
		hs[r] = newHistogram()
	}
	err = c.r.AppHistory(c.ctx, app, now.Add(-c.window), time.Time{}, func(a store.Attempt) error {
		hs[a.Result()].observe(a.End.Sub(a.Start).Seconds())
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range store.Results {
		h := hs[r]
		ch <- prometheus.MustNewConstHistogram(descDuration, h.count, h.sum, h.cumulative(), app, string(r))
	}
	return nil
}

// readError is an error reading the metrics of app.
type readError struct {
	app string
	err error
}

func (e *readError) Error() string { return "app " + e.app + ": " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// plain returns the error of a gathering as the collector reported it,
// without the library's wrapping.
func plain(err error) error {
	if me, ok := err.(prometheus.MultiError); ok && len(me) > 0 {
		err = me[0]
	}
	if re, ok := errors.AsType[*readError](err); ok {
		return re
	}
	return err
}

// histogram counts observations in Buckets.
type histogram struct {
	count uint64
	sum   float64
	in    []uint64 // in[i]: observations in (Buckets[i-1], Buckets[i]]
}

func newHistogram() *histogram { return &histogram{in: make([]uint64, len(Buckets))} }

func (h *histogram) observe(v float64) {
	if v < 0 {
		v = 0 // clocks of different machines (ZooKeeper's are the clients')
	}
	h.count++
	h.sum += v
	for i, b := range Buckets {
		if v <= b {
			h.in[i]++
			return
		}
	}
}

// cumulative returns the buckets as Prometheus wants them: by upper
// bound, the observations at or below it.
func (h *histogram) cumulative() map[float64]uint64 {
	m := make(map[float64]uint64, len(Buckets))
	var n uint64
	for i, b := range Buckets {
		n += h.in[i]
		m[b] = n
	}
	return m
}
