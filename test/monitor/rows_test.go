package monitor

import (
	"strings"
	"testing"
)

func TestRowChecks(t *testing.T) {
	for _, tc := range []struct {
		name            string
		got             Rows
		acked           []int
		planned, prefix string // "" = passes, else a fragment of the error
	}{
		{"all acknowledged", Rows{0: {0, 1, 2}, 1: {0}}, []int{3, 1}, "", ""},
		{"one in flight committed", Rows{0: {0, 1, 2, 3}}, []int{3}, "", ""},
		{"two past the acknowledged", Rows{0: {0, 1, 2, 3, 4}}, []int{3}, "only 3 acknowledged", "only 3 acknowledged"},
		{"tail lost", Rows{0: {0, 1}}, []int{3}, "were lost", ""},
		{"writer lost entirely", Rows{}, []int{2}, "were lost", ""},
		{"hole", Rows{0: {0, 2, 3}}, []int{4}, "a hole", "a hole"},
		{"hole at the start", Rows{0: {1}}, []int{1}, "a hole", "a hole"},
		{"unknown writer", Rows{0: {0}, 7: {0}}, []int{1}, "not one of", "not one of"},
		{"nothing acknowledged, nothing there", Rows{}, []int{0, 0}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []struct {
				check func(Rows, []int) error
				want  string
				which string
			}{{NoneLost, tc.planned, "NoneLost"}, {ExactPrefix, tc.prefix, "ExactPrefix"}} {
				err := c.check(tc.got, tc.acked)
				switch {
				case c.want == "" && err != nil:
					t.Errorf("%s: %v, want nil", c.which, err)
				case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
					t.Errorf("%s: %v, want an error with %q", c.which, err, c.want)
				}
			}
		})
	}
}
