package workflows

import (
	"strings"
	"time"

	"github.com/bottomless-dr/bottomless-dr/activities"
)

// The DR drill's contract (DESIGN 4, TestFailover): its type name, ID, input, update, query
// and the report it returns and records in the target's bucket.

// TestFailoverName is the workflow type of the DR drill.
const TestFailoverName = "TestFailover"

// UpdateFinish ends a drill's keepFor early: the branch is detached and deleted now. The
// update returns at once; the drill's result follows when its clean-up is done.
const UpdateFinish = "finish"

// ErrDrillFailed is the error type of a drill that ran and failed (the branch did not attach,
// a validation query failed, the users and grants snapshot would not apply, …). Its details
// hold the DrillResult, with the reason in words; the same report is in the target's bucket.
const ErrDrillFailed = "DrillFailed"

// DrillStampLayout formats a drill's time in its ID, its branch's names and its record.
const DrillStampLayout = "20060102150405"

// DrillID is the workflow ID of a drill of db started at t (UTC, to the second): a second start
// in the same second is rejected rather than run twice.
func DrillID(db string, t time.Time) string {
	return "drill/" + db + "/" + t.UTC().Format(DrillStampLayout)
}

// DrillScheduleID is the ID of the Temporal Schedule of a database's drills: one per
// database, so that scheduling again updates it instead of adding a second.
func DrillScheduleID(db string) string { return "drills/" + db }

// ScheduledDrillID is the workflow ID a drill Schedule gives its action; Temporal appends the
// scheduled time to it.
func ScheduledDrillID(db string) string { return "drill/" + db + "/scheduled" }

// BranchName is the name a drill's branch is attached under: <db>_drill_<yyyymmddhhmmss>.
func BranchName(db, stamp string) string { return db + "_drill_" + stamp }

// MaxKeepFor bounds keepFor: a branch kept longer is a copy nobody watches.
const MaxKeepFor = 7 * 24 * time.Hour

// DrillInput starts a drill of a database in region To (DESIGN 4). It never names the
// primary: a drill sends no request to it.
type DrillInput struct {
	Database string `json:"database"`
	To       string `json:"to"`
	// At attaches the branch at a recorded milestone or a time instead of at latest.
	At *FailoverAt `json:"at,omitempty"`
	// Validate lists read-only queries run with the branch as the default database.
	Validate []string `json:"validate,omitempty"`
	// KeepFor is how long the branch stays attached after the report, as a Go duration
	// ("30m", "2h"); "" or "0s": cleaned up at once. The finish update ends it early.
	KeepFor string `json:"keepFor,omitempty"`
	// KeepRows keeps the first row of each validation query in the result (and history).
	KeepRows bool `json:"keepRows,omitempty"`
}

// Drill phases, as shown in the Temporal UI, the status query and bdr drill list.
const (
	DrillChecking   = "checking"
	DrillBranching  = "branching"
	DrillAttaching  = "attaching"
	DrillValidating = "validating"
	DrillKept       = "kept"        // the branch is attached, waiting for keepFor or finish
	DrillCleaning   = "cleaning up" // detaching and deleting the branch
	DrillDone       = "done"
)

// DrillResult is a drill's report: returned by the workflow, carried by its DrillFailed
// error, answered by its status query while it runs, and recorded in the target's bucket at
// .bdr/<db>/drills/<id>.json (replication.DrillKey).
type DrillResult struct {
	ID         string    `json:"id"` // <yyyymmddhhmmss>: the record's name and the branch's suffix
	WorkflowID string    `json:"workflowId"`
	Database   string    `json:"database"`
	To         string    `json:"to"`
	From       string    `json:"from,omitempty"` // the source the replica comes from, per its watermark record
	Phase      string    `json:"phase"`
	Passed     bool      `json:"passed"`
	Reason     string    `json:"reason,omitempty"` // why it failed, in words
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`

	// Branch is the name the branch is attached under; BranchRoot its folder in To's bucket.
	Branch     string `json:"branch"`
	BranchRoot string `json:"branchRoot"`
	AttachedAt string `json:"attachedAt,omitempty"` // "latest", "milestone <name>" or "time <UTC>"
	// Watermark is the replicated prefix the branch copies: every source blob written at or
	// before it.
	Watermark time.Time `json:"watermark"`
	// NewestWrite is the newest source write known (the replication's last listing), and
	// RPOSeconds the would-be RPO: NewestWrite minus Watermark. RPOKnown is false when no
	// running replication could tell.
	NewestWrite time.Time `json:"newestWrite,omitzero"`
	RPOSeconds  float64   `json:"rpoSeconds"`
	RPOKnown    bool      `json:"rpoKnown"`
	// AttachSeconds is what the ATTACH took: what a real failover's ATTACH would cost.
	AttachSeconds  float64 `json:"attachSeconds"`
	CopySeconds    float64 `json:"copySeconds"`
	DrillSeconds   float64 `json:"drillSeconds"` // from the start to the report
	CleanupSeconds float64 `json:"cleanupSeconds,omitempty"`

	Branched   activities.BranchReport   `json:"branched"`
	Validation []activities.QueryResult  `json:"validation,omitempty"`
	Security   *activities.SecurityCheck `json:"security,omitempty"`
	// KeptUntil is when the branch is cleaned up unless finish comes first.
	KeptUntil time.Time `json:"keptUntil,omitzero"`
	CleanedUp bool      `json:"cleanedUp"`
	Steps     []Step    `json:"steps"`
	Warnings  []string  `json:"warnings,omitempty"`
}

// Summary is the drill's outcome in one line.
func (r DrillResult) Summary() string {
	var b strings.Builder
	b.WriteString("drill " + r.ID + " of " + r.Database + " in " + r.To + ": ")
	switch {
	case r.Phase != DrillDone && r.Phase != "":
		b.WriteString(r.Phase)
	case r.Passed:
		b.WriteString("passed")
	default:
		b.WriteString("FAILED: " + r.Reason)
	}
	return b.String()
}
