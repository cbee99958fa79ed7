package cli

import "testing"

func TestListenAddr(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"9464", "127.0.0.1:9464", ""},
		{":9464", "127.0.0.1:9464", ""},
		{"0.0.0.0:9464", "0.0.0.0:9464", ""},
		{"[::1]:9464", "[::1]:9464", ""},
		{"localhost:0", "localhost:0", ""},
		{"127.0.0.1:", "", "no port"},
		{"", "", "no port"},
		{"nonsense", "", `bad port "nonsense" (want 0 to 65535)`},
		{"127.0.0.1:http", "", `bad port "http" (want 0 to 65535)`},
		{":65536", "", `bad port "65536" (want 0 to 65535)`},
	} {
		got, err := ListenAddr(c.in)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && err.Error() != c.err) {
			t.Errorf("ListenAddr(%q) = %q, %v; want %q, %q", c.in, got, err, c.want, c.err)
		}
	}
}
