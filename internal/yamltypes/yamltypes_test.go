package yamltypes

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDurations(t *testing.T) {
	type doc struct {
		D Duration          `yaml:"d"`
		S DurationOrSeconds `yaml:"s"`
	}
	cases := []struct {
		src     string
		d, s    time.Duration
		wantErr string
	}{
		{"d: 1h\ns: 90m", time.Hour, 90 * time.Minute, ""},
		{"s: 3600", 0, time.Hour, ""},
		{"s: ' 1800 '", 0, 30 * time.Minute, ""},
		{"d: 0s\ns: 0", 0, 0, ""},
		{"d: 5", 0, 0, `invalid duration "5": use Go durations`}, // a bare number is no Go duration
		{"d: soon", 0, 0, `invalid duration "soon"`},
		{"s: soon", 0, 0, `or whole seconds`},
		{"d: -1s", 0, 0, "negative"},
		{"s: -1s", 0, 0, "negative"},
		{"s: -1", 0, 0, "out of range"},
		{"s: 9223372037", 0, 0, "out of range"},
		{"s: 99999999999999999999", 0, 0, "invalid duration"},
		{"d: [1h]", 0, 0, "a duration must be a string"},
		{"s: {a: b}", 0, 0, "a duration must be a string"},
	}
	for _, c := range cases {
		var got doc
		err := yaml.Unmarshal([]byte(c.src), &got)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%q: %v", c.src, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%q: error %v, want one with %q", c.src, err, c.wantErr)
		case c.wantErr == "" && (time.Duration(got.D) != c.d || time.Duration(got.S) != c.s):
			t.Errorf("%q: got %s %s, want %s %s", c.src, time.Duration(got.D), time.Duration(got.S), c.d, c.s)
		}
	}
	out, err := yaml.Marshal(doc{D: Duration(time.Hour), S: DurationOrSeconds(90 * time.Second)})
	if err != nil || string(out) != "d: 1h0m0s\ns: 1m30s\n" {
		t.Errorf("marshal: %q %v", out, err)
	}
}

func TestStringList(t *testing.T) {
	var got struct {
		A StringList `yaml:"a"`
		B StringList `yaml:"b"`
		C StringList `yaml:"c"`
	}
	if err := yaml.Unmarshal([]byte("a: x\nb: [y, z]\n"), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.A) != 1 || got.A[0] != "x" || len(got.B) != 2 || got.B[1] != "z" || got.C != nil {
		t.Errorf("got %q %q %q", got.A, got.B, got.C)
	}
	if err := yaml.Unmarshal([]byte("a: {k: v}\n"), &got); err == nil || !strings.Contains(err.Error(), "want a string or a list of strings") {
		t.Errorf("mapping accepted: %v", err)
	}
	if err := yaml.Unmarshal([]byte("a: [[x]]\n"), &got); err == nil {
		t.Error("nested list accepted")
	}
}
