package confredis

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
)

// A key in the way of a load (not a hash where an app goes, not a list
// where the app list goes) refuses the whole load before anything is
// written: the configuration stays as it was.
func TestWriteKeyInTheWay(t *testing.T) {
	srv := redistest.Start(t)
	o := Options{Host: srv.Host(), Port: srv.Port(), KeyPrefix: "c/"}
	ctx := context.Background()
	old := []App{{Name: "a", Fields: []Field{{Key: "job_id", Value: json.RawMessage(`"{n}"`)}}}}
	if err := Write(ctx, o, old); err != nil {
		t.Fatal(err)
	}
	if err := with(ctx, o, func(c *conn) error { _, err := c.do("SET", "c/b", "x"); return err }); err != nil {
		t.Fatal(err)
	}
	err := Write(ctx, o, []App{{Name: "z"}, {Name: "b"}})
	if err == nil || !strings.HasSuffix(err.Error(), "the key c/b is a string, not an app") {
		t.Fatalf("load over a string key: %v", err)
	}
	got, err := Read(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if doc := string(Document(got)); doc != `{"a":{"job_id":"{n}"}}` {
		t.Errorf("after a refused load: %s", doc)
	}
}
