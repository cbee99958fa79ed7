package exec

import "testing"

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want size
		out  string
	}{
		{"0", 0, "0"},
		{"1000", 1000, "1000"},
		{"1024", 1024, "1K"},
		{"512M", 512 << 20, "512M"},
		{"2G", 2 << 30, "2G"},
		{"1T", 1 << 40, "1T"},
		{"1536K", 1536 << 10, "1536K"},
		{"1500", 1500, "1.5K"},
	} {
		var s size
		if err := s.Set(tc.in); err != nil || s != tc.want || s.String() != tc.out {
			t.Errorf("Set(%q): %d %q, %v; want %d %q", tc.in, s, s.String(), err, tc.want, tc.out)
		}
	}
	for _, bad := range []string{"", "-1", "1.5G", "12Q", "M", "1 G", "99999999T"} {
		var s size
		if err := s.Set(bad); err == nil {
			t.Errorf("Set(%q) = %d, want an error", bad, s)
		}
	}
}
