package workflows

import (
	"time"

	"github.com/bottomless-dr/bottomless-dr/activities"
)

// The failback's contract (DESIGN 4, Failback; 5.5): its type name, ID, input, update, query
// and result.

// FailbackName is the workflow type of Failback.
const FailbackName = "Failback"

// UpdateSwitchback asks a running Failback to switch back (a planned switchover to the region
// that came back) once that region is the primary's caught-up replica. It returns at once.
const UpdateSwitchback = "switchback"

// FailbackID is the workflow ID of the failback of db: one at a time per database.
func FailbackID(db string) string { return "failback/" + db }

// RecoveredName is the name a recovered branch is attached under: <db>_recovered_<stamp>.
func RecoveredName(db, stamp string) string { return db + "_recovered_" + stamp }

// FailbackInput starts a failback after an unplanned failover: From is the current primary
// (the region failed over to), To the region coming back (the one failed over from).
type FailbackInput struct {
	Database string `json:"database"`
	From     string `json:"from"`
	To       string `json:"to"`
	// Switchback returns the database to To once To is From's caught-up replica: a planned,
	// zero-loss switchover, then replication To→From again.
	Switchback bool `json:"switchback,omitempty"`
	// State is carried across continue-as-new while the failback waits for To; nil at first.
	State *FailbackState `json:"state,omitempty"`
}

// FailbackState is what a failback waiting for To hands to its next run.
type FailbackState struct {
	WaitingSince time.Time `json:"waitingSince"`
	Probes       int       `json:"probes"`
	LastProblem  string    `json:"lastProblem,omitempty"`
	Switchback   bool      `json:"switchback,omitempty"` // the switchback update came
}

// Failback phases, as shown in the Temporal UI, the status query and bdr status.
const (
	FailbackChecking   = "checking"
	FailbackWaiting    = "waiting for the region to come back"
	FailbackFencing    = "fencing the region that came back"
	FailbackRecovering = "recovering its unreplicated tail"
	FailbackReversing  = "making it the primary's replica"
	FailbackCatchingUp = "replicating back"
	FailbackSwitching  = "switching back"
	FailbackForward    = "replicating forward again"
	FailbackDone       = "done"
)

// FailbackResult is what a failback did and measured.
type FailbackResult struct {
	Database string `json:"database"`
	From     string `json:"from"`
	To       string `json:"to"`
	Phase    string `json:"phase"`
	// FailoverAt is when From became the primary (its primary record).
	FailoverAt time.Time `json:"failoverAt"`
	// WaitingSince is when the failback began to wait for To, and Waited how long it did.
	WaitingSince  time.Time `json:"waitingSince,omitzero"`
	WaitedSeconds float64   `json:"waitedSeconds"`
	Probes        int       `json:"probes,omitempty"`
	LastProblem   string    `json:"lastProblem,omitempty"` // why To did not answer, while it did not
	// Fence says what became of To's cluster: detached (its last writes uploaded first), or
	// gone (noted, not waited for).
	Fence *activities.FenceResult `json:"fence,omitempty"`
	// Tail is what To's folder held that From holds nowhere: what the failover lost until now,
	// kept in the recovered branch.
	Tail activities.TailReport `json:"tail"`
	// Recovered is the branch To's whole folder was rebuilt as in From; nil when the tail is
	// empty (nothing to recover).
	Recovered *activities.RecoveredReport `json:"recovered,omitempty"`
	// MovedAside counts the blobs moved aside in To (under MovedAsideTo) so that its folder is
	// a prefix of From's.
	MovedAside   int64    `json:"movedAside"`
	MovedAsideTo string   `json:"movedAsideTo,omitempty"`
	LocksRemoved []string `json:"locksRemoved,omitempty"`
	// ReverseReplication is the replication From→To, and CopiedBack what its catch-up copied:
	// only what To lacked. WrittenSinceFailover is what From's database wrote after the
	// failover, and DatabaseBytes the size of From's folder: the two figures to compare it to.
	ReverseReplication   string `json:"reverseReplication,omitempty"`
	CopiedBackObjects    int64  `json:"copiedBackObjects"`
	CopiedBackBytes      int64  `json:"copiedBackBytes"`
	WrittenSinceFailover int64  `json:"writtenSinceFailoverBytes"`
	DatabaseBytes        int64  `json:"databaseBytes"`
	// FullCopy says To's folder held nothing of the database (its bucket was replaced): the
	// reverse replication copied everything.
	FullCopy bool `json:"fullCopy,omitempty"`
	// Switchback is the planned switchover back to To, and ForwardReplication the replication
	// To→From started after it, which copied ForwardCopiedObjects: only To's new writes.
	Switchback           *FailoverResult `json:"switchback,omitempty"`
	ForwardReplication   string          `json:"forwardReplication,omitempty"`
	ForwardCopiedObjects int64           `json:"forwardCopiedObjects"`
	Steps                []Step          `json:"steps"`
	Warnings             []string        `json:"warnings,omitempty"`
}
