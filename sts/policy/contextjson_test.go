package policy

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestContextValues(t *testing.T) {
	cases := []struct {
		in   string
		want []string // nil: refused
	}{
		{`"alice"`, []string{"alice"}},
		{`""`, []string{""}},
		{`3600`, []string{"3600"}},
		{`-1.50`, []string{"-1.50"}},
		{`1e6`, []string{"1e6"}},
		{`true`, []string{"true"}},
		{`false`, []string{"false"}},
		{` ["a", 2, true] `, []string{"a", "2", "true"}},
		{`[]`, []string{}},
		{`null`, nil},
		{`{"a":"b"}`, nil},
		{`[["a"]]`, nil},
		{`[null]`, nil},
		{`[{"a":1}]`, nil},
		{`"unterminated`, nil},
		{``, nil},
		{`tru`, nil},
		{`01`, nil},
	}
	for _, tc := range cases {
		got, err := ContextValues(json.RawMessage(tc.in))
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: accepted as %q", tc.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
}
