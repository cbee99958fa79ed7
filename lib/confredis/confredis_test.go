package confredis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stolos-sched/stolos/lib/confredis"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
)

func apps(tag string, n int) []confredis.App {
	var out []confredis.App
	for i := range n {
		out = append(out, confredis.App{Name: fmt.Sprintf("app%d", i), Fields: []confredis.Field{
			{Key: "bash_cmd", Value: json.RawMessage(fmt.Sprintf("%q", tag))},
			{Key: "job_id", Value: json.RawMessage(`"{n}"`)},
		}})
	}
	return out
}

// A load replaces the whole configuration in one step: readers running
// beside loads of two configurations (of 300 and 200 apps) always read one
// of them whole, never a mix or a part.
func TestWriteIsAtomic(t *testing.T) {
	srv := redistest.Start(t)
	o := confredis.Options{Host: srv.Host(), Port: srv.Port(), KeyPrefix: "conf/"}
	ctx := context.Background()
	a, b := apps("A", 300), apps("B", 200)
	want := map[string]bool{string(confredis.Document(a)): true, string(confredis.Document(b)): true}
	if err := confredis.Write(ctx, o, a); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := confredis.Read(ctx, o)
				if err == nil && !want[string(confredis.Document(got))] {
					err = fmt.Errorf("read a mix: %d apps, first %s", len(got), confredis.Document(got[:1]))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 40 {
		c := a
		if i%2 == 0 {
			c = b
		}
		if err := confredis.Write(ctx, o, c); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Read gives the apps in their order and each app's keys in name order;
// Write stores values compact; no configuration is ErrNone; AUTH and
// SELECT are sent.
func TestReadWrite(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{Password: "pw"})
	o := confredis.Options{Host: srv.Host(), Port: srv.Port(), Password: "pw", DB: 3, KeyPrefix: "x:"}
	ctx := context.Background()
	if _, err := confredis.Read(ctx, o); !errors.Is(err, confredis.ErrNone) {
		t.Fatalf("Read of nothing: %v, want ErrNone", err)
	}
	in := []confredis.App{
		{Name: "z", Fields: []confredis.Field{{Key: "job_id", Value: json.RawMessage(`"{n}"`)}, {Key: "depends_on", Value: json.RawMessage("{\"app_name\":\n  [\"y\"]}")}}},
		{Name: "y", Fields: nil},
	}
	if err := confredis.Write(ctx, o, in); err != nil {
		t.Fatal(err)
	}
	got, err := confredis.Read(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if doc, want := confredis.Document(got), `{"z":{"depends_on":{"app_name":["y"]},"job_id":"{n}"},"y":{}}`; !bytes.Equal(doc, []byte(want)) {
		t.Errorf("read %s, want %s", doc, want)
	}
	// The wrong password names the server and says why.
	bad := o
	bad.Password = "nope"
	if _, err := confredis.Read(ctx, bad); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("wrong password: %v", err)
	}
}
