package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/internal/units"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// failbackListCmd lists the recovered branches of a database: where each failback kept the
// tail a failover lost, for the operator who must still bring its rows in (README:
// Recovering rows from a recovered branch).
func (a *app) failbackListCmd() *cobra.Command {
	return a.recordsListCmd("List the recovered branches of DB recorded in the buckets: the tails failbacks kept, newest first",
		replication.ListRecovered, func(db string, raws []bucketRecord) error {
			branches, err := decodeRecovered(db, raws)
			if err != nil {
				return err
			}
			if a.json {
				return writeJSON(a.stdout, branches, false)
			}
			return writeRecoveredList(a.stdout, branches)
		})
}

// decodeRecovered decodes recovered branch records, newest first. A record written before
// its branch was attached does not name it yet: the name follows from its stamp.
func decodeRecovered(db string, raws []bucketRecord) ([]activities.Recovered, error) {
	out := make([]activities.Recovered, 0, len(raws))
	for _, raw := range raws {
		var r activities.Recovered
		if err := raw.decode("recovered branch", &r); err != nil {
			return nil, err
		}
		if r.Branch.Name == "" {
			r.Branch.Name = workflows.RecoveredName(db, r.Stamp)
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Stamp > out[j].Stamp })
	return out, nil
}

// writeRecoveredList writes one row per recovered branch: where it is, which failover lost
// its tail, how much, and whether it is whole and attached.
func writeRecoveredList(w io.Writer, branches []activities.Recovered) error {
	if len(branches) == 0 {
		_, err := fmt.Fprintln(w, "no recovered branches recorded")
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BRANCH\tREGION\tFROM\tFAILOVER\tTAIL\tTAIL WRITTEN\tSTATE")
	for _, r := range branches {
		state := "attached"
		switch {
		case !r.Complete:
			state = "INCOMPLETE (a failback is building it, or stopped while it did)"
		case !r.Branch.Attached:
			state = "built, not attached"
		}
		tail := fmt.Sprintf("%d blobs, %s", r.Tail.Objects, units.Bytes(r.Tail.Bytes))
		written := formatTime(r.Tail.OldestWrite) + " .. " + formatTime(r.Tail.NewestWrite)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Branch.Name, orDash(r.Branch.Region), r.Returning, formatTime(r.FailoverAt), tail, written, state)
	}
	_ = tw.Flush() // writes to a strings.Builder cannot fail
	_, err := io.WriteString(w, b.String())
	return err
}
