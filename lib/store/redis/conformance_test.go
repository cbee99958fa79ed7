package redis

import (
	"testing"

	"github.com/stolos-sched/stolos/lib/store/storetest"
)

// harness runs the conformance suite, each test in its own key prefix on
// the shared server.
var harness = storetest.Harness{New: newSpec, Open: openSpec}

func TestConformance(t *testing.T) { storetest.Run(t, harness) }
