// Package workflows holds the Temporal workflows of bottomless-dr: deterministic orchestration
// only (no I/O, no clocks but workflow.Now), and the public contract of DESIGN 4: workflow type
// names, IDs, inputs, updates, queries and the status they return.
package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/activities"
)

// Workflow type names, update and query names: an API typed by users in the Temporal UI and
// the temporal CLI.
const (
	ReplicateName = "Replicate"
	UpdatePause   = "pause"
	UpdateResume  = "resume"
	UpdateDrain   = "drain"
	UpdateVerify  = "verify"
	QueryStatus   = "status"
)

// Custom search attributes that make every workflow findable in the Temporal UI.
var (
	SearchAttrDatabase = temporal.NewSearchAttributeKeyKeyword("BdrDatabase")
	SearchAttrState    = temporal.NewSearchAttributeKeyKeyword("BdrState")
)

// ReplicateID is the workflow ID of the replication of db from one region to another. It is
// deterministic so that a second start of the same replication is rejected.
func ReplicateID(db, from, to string) string { return fmt.Sprintf("replicate/%s/%s->%s", db, from, to) }

// ReplicateInput starts replication of one database between two regions. It names regions
// and a database, never credentials.
type ReplicateInput struct {
	Database string `json:"database"`
	From     string `json:"from"`
	To       string `json:"to"`
	// State is carried across continue-as-new; nil on the first run.
	State *ReplicateState `json:"state,omitempty"`
}

// Replication states, as shown in status and in the BdrState search attribute.
const (
	StateStarting    = "starting"
	StateInitialSync = "initial-sync"
	StateReplicating = "replicating"
	StatePaused      = "paused"
	StateDraining    = "draining"
	StateVerifying   = "verifying" // the anti-entropy pass is comparing source and target
	StateFailing     = "failing"   // the last sync failed; retrying with backoff
)

// ReplicateState is what one run hands to the next across continue-as-new.
type ReplicateState struct {
	Paused   bool     `json:"paused"`
	Settings Settings `json:"settings"`
	Status   Status   `json:"status"`
	// Clean says the previous run's last sync ended cleanly, so the target holds nothing its
	// record does not: the next run need not check the target before copying. A state
	// without it (older runs) is treated as unclean, which is always safe.
	Clean bool `json:"clean,omitempty"`
	// VerifyWanted carries a pending anti-entropy pass over: a Sync reported a late blob,
	// which only a full comparison repairs, and no later listing reports it again.
	VerifyWanted bool `json:"verifyWanted,omitempty"`
}

// Settings are the non-secret settings a run uses, read from the worker's configuration by
// the Prepare activity (workflows cannot read files).
type Settings struct {
	RootPath     string        `json:"rootPath"`
	PollInterval time.Duration `json:"pollInterval"`
	SettleWindow time.Duration `json:"settleWindow"`
	// AntiEntropyInterval is how often the full comparison runs; 0: only on request.
	AntiEntropyInterval time.Duration `json:"antiEntropyInterval"`
	// WaitInSync makes every caught-up wait, a whole poll interval included (up to
	// maxHintWait), happen inside the next Sync activity: set when the worker reads bucket
	// notifications, whose hints end that wait (PrepareResult.Hints). Runs started by code
	// before it wait in timers whatever it says (versionHintWaits).
	WaitInSync bool `json:"waitInSync,omitempty"`
}

// Status is the answer of the status query: everything an operator needs at a glance.
type Status struct {
	State          string      `json:"state"`
	Database       string      `json:"database"`
	From           string      `json:"from"`
	To             string      `json:"to"`
	Watermark      Watermark   `json:"watermark"`
	LastSyncAt     time.Time   `json:"lastSyncAt"`
	LagSeconds     float64     `json:"lagSeconds"` // source clock at the last sync minus the watermark: the RPO now
	PendingObjects int64       `json:"pendingObjects"`
	PendingBytes   int64       `json:"pendingBytes"`
	CopiedObjects  int64       `json:"copiedObjects"`
	CopiedBytes    int64       `json:"copiedBytes"`
	InitialSync    InitialSync `json:"initialSync"`
	NewestWrite    time.Time   `json:"newestWrite"` // newest blob seen in the source
	HeldBy         string      `json:"heldBy,omitempty"`
	// HeldSince is when the upload holding the watermark back began.
	HeldSince   time.Time `json:"heldSince,omitzero"`
	LastVerify  *Verified `json:"lastVerify,omitempty"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	// FailingSince is when the first of the syncs failing now failed: the source (or the
	// target) has been failing since then at the latest.
	FailingSince time.Time `json:"failingSince,omitzero"`
	// SourceSilentSince is, while syncs fail because the source's bucket does not answer,
	// when the worker running them first failed to reach it (by the store's clock): the
	// bucket took no write after it. An unplanned failover bounds its RPO with it.
	SourceSilentSince time.Time `json:"sourceSilentSince,omitzero"`
	// LateObjects counts the source blobs the syncs found at or below a watermark already
	// past them (DESIGN 5a.6), since replication started; LateKeys are the latest few. The
	// anti-entropy pass copies them.
	LateObjects int64    `json:"lateObjects,omitempty"`
	LateKeys    []string `json:"lateKeys,omitempty"`
	// VanishedObjects counts the listed source blobs the syncs found deleted (or overwritten)
	// when their copy began, since replication started: skipped, not failed.
	VanishedObjects int64 `json:"vanishedObjects,omitempty"`
	// EarlyObjects counts the copies, among CopiedObjects, made before their blob was
	// eligible (replication.early_copies), since replication started.
	EarlyObjects int64 `json:"earlyObjects,omitempty"`
	// Listing is what listing the source costs, as of the last sync.
	Listing *ListingCost `json:"listing,omitempty"`
}

// ListingCost is what listing the source costs: every round lists the whole folder.
type ListingCost struct {
	RequestsPerRound  float64 `json:"requestsPerRound"`
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	// USDPerMonth estimates the source's LIST bill at S3 Standard's list price, $0.005 per
	// 1,000 requests (us-east-1; check your region's), for 30 days at RequestsPerSecond.
	USDPerMonth float64 `json:"usdPerMonth"`
}

// s3ListPricePerRequest is S3 Standard's LIST price in us-east-1: $0.005 per 1,000 requests.
const s3ListPricePerRequest = 0.005 / 1000

// listingCost returns what a sync's listings cost, nil when it made none.
func listingCost(res activities.SyncResult) *ListingCost {
	if res.ListRounds == 0 || res.Elapsed <= 0 {
		return nil
	}
	perSecond := float64(res.ListRequests) / res.Elapsed.Seconds()
	return &ListingCost{RequestsPerRound: float64(res.ListRequests) / float64(res.ListRounds), RequestsPerSecond: perSecond,
		USDPerMonth: perSecond * 30 * 24 * 3600 * s3ListPricePerRequest}
}

// Watermark is the replicated prefix: every source blob with LastModified <= Time is in the
// target.
type Watermark struct {
	Time time.Time `json:"time"`
	Key  string    `json:"key,omitempty"`
}

// InitialSync is the progress of the first full copy.
type InitialSync struct {
	Done     int64     `json:"done"`
	Total    int64     `json:"total"`
	Complete bool      `json:"complete"`
	Until    time.Time `json:"until"` // the newest source blob when replication started
}

// Verified is the result of the last anti-entropy pass: a full comparison of every source
// blob at or before the watermark with the target, repairing what differed.
type Verified struct {
	At           time.Time `json:"at"`
	Watermark    time.Time `json:"watermark"`
	Checked      int       `json:"checked"`
	Missing      int       `json:"missing"`
	Mismatched   int       `json:"mismatched"`
	Repaired     int       `json:"repaired"`
	RepairedKeys []string  `json:"repairedKeys,omitempty"`
	// Vanished counts blobs to repair that the source deleted before their copy.
	Vanished int `json:"vanished,omitempty"`
	// Deletes is what the pass did about the source's deletes (DESIGN 5.6): pending, held
	// for milestones, deleted.
	Deletes *activities.DeleteReport `json:"deletes,omitempty"`
}

// PauseRequest, ResumeRequest and VerifyRequest are the inputs of the updates;
// empty today, structs so that fields can be added without breaking callers.
type (
	PauseRequest  struct{}
	ResumeRequest struct{}
	VerifyRequest struct{}
)

// DrainRequest is the input of drain. Quiescent says the source takes no more writes (its
// database is detached, which uploads everything first): the drain then ends once everything
// one listing shows is in, instead of waiting for the source clock to pass the drain's start.
type DrainRequest struct {
	Quiescent bool `json:"quiescent,omitempty"`
	// TimeoutSeconds bounds the drain: when it has not ended by then, it is abandoned,
	// replication goes on as before, and the update fails saying how far it got.
	// 0: DefaultDrainTimeout.
	TimeoutSeconds float64 `json:"timeoutSeconds,omitempty"`
}

func (r DrainRequest) timeout() time.Duration {
	if r.TimeoutSeconds <= 0 {
		return DefaultDrainTimeout
	}
	return time.Duration(r.TimeoutSeconds * float64(time.Second))
}

// DrainResult is what drain returns: the watermark once everything that existed when the
// drain began is in the target, and replication is paused.
type DrainResult struct {
	Watermark Watermark `json:"watermark"`
	Status    Status    `json:"status"`
}
