package zookeeper

import (
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/store"

	"github.com/stolos-sched/stolos/lib/store/storetest"
)

// harness runs the conformance suite, each test in its own chroot on the
// shared server.
var harness = storetest.Harness{New: newSpec, Open: openSpec}

func TestConformance(t *testing.T) { storetest.Run(t, harness) }

// BenchmarkLimits: claim and complete without and with limits
// (storetest), rounds of 25 jobs: ZooKeeper claims and completes several
// times slower than the others.
func BenchmarkLimits(b *testing.B) { storetest.BenchLimits(b, harness, 25) }

// BenchmarkClaimAcross: claim and complete across two apps against app by
// app (storetest).
func BenchmarkClaimAcross(b *testing.B) { storetest.BenchClaimAcross(b, harness) }

// No call blocks past its deadline when the server stops answering.
func TestPartitioned(t *testing.T) {
	storetest.Partitioned(t, server(t).Hosts(), func(addr string) (store.Backend, error) {
		return openSpec(strings.Replace(newSpec(t), server(t).Hosts(), addr, 1))
	})
}
