package zookeeper

import (
	"testing"

	"github.com/stolos-sched/stolos/lib/store/storetest"
)

// harness runs the conformance suite, each test in its own chroot on the
// shared server.
var harness = storetest.Harness{New: newSpec, Open: openSpec}

func TestConformance(t *testing.T) { storetest.Run(t, harness) }
