package workflows

import (
	"slices"
	"strings"
)

func sortedJoin(errs []error) string {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	slices.Sort(msgs)
	return strings.Join(msgs, "; ")
}
