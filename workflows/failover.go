package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// FailoverName is the workflow type of Failover.
const FailoverName = "Failover"

// Failover modes.
const (
	ModePlanned   = "planned"
	ModeUnplanned = "unplanned"
)

// FailoverID is the workflow ID of a failover of db: one at a time per database.
func FailoverID(db string) string { return "failover/" + db }

// FailoverInput starts a failover of a database from one region to another (DESIGN 4).
type FailoverInput struct {
	Database string `json:"database"`
	From     string `json:"from"`
	To       string `json:"to"`
	Mode     string `json:"mode"` // planned | unplanned
	// Validate lists read-only queries run against the database once attached in To.
	Validate []string    `json:"validate,omitempty"`
	At       *FailoverAt `json:"at,omitempty"`
	DryRun   bool        `json:"dryRun,omitempty"`
}

// FailoverAt is the point an unplanned failover attaches at: a milestone or a time.
type FailoverAt struct {
	Milestone string    `json:"milestone,omitempty"`
	Time      time.Time `json:"time,omitzero"`
}

// FailoverResult is what a failover did and measured.
type FailoverResult struct {
	Database   string    `json:"database"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Mode       string    `json:"mode"`
	NewPrimary string    `json:"newPrimary"`
	Milestone  string    `json:"milestone"`
	Watermark  time.Time `json:"watermark"`
	// RPOSeconds is what the failover lost, in seconds of writes. Planned: 0, proved by
	// Compared. Unplanned: exact when From's bucket answered; otherwise at most this much,
	// and at least RPOMinSeconds.
	RPOSeconds float64                  `json:"rpoSeconds"`
	RTOSeconds float64                  `json:"rtoSeconds"` // from the detach to the verified attach
	Compared   replication.VerifyReport `json:"compared"`
	Validation []activities.QueryResult `json:"validation,omitempty"`
	// Security says which users, roles and groups were created in To and which users were
	// created locked (no password reference in the configuration).
	Security   activities.ApplyReport `json:"security"`
	RecordedIn []string               `json:"recordedIn"`
	Steps      []Step                 `json:"steps"` // the RTO split by step

	// Unplanned only. AttachedAt is "latest", "milestone <name>" or "time <UTC>".
	AttachedAt string                  `json:"attachedAt,omitempty"`
	Fence      *activities.FenceResult `json:"fence,omitempty"`
	Sealed     *activities.SealReport  `json:"sealed,omitempty"`
	// NewestWrite is the newest source write known, and RPOFrom where it was learnt: the
	// failed region's bucket when it answered, else the replication's last status.
	NewestWrite time.Time `json:"newestWrite,omitzero"`
	RPOFrom     string    `json:"rpoFrom,omitempty"`
	// RPOMinSeconds bounds the RPO from below when From's bucket did not answer: the newest
	// write the replication's last listing saw minus the point attached. RPOSeconds bounds
	// it from above then: when From's bucket was first seen not answering minus that point.
	RPOMinSeconds float64 `json:"rpoMinSeconds,omitempty"`
	// Unreplicated is the tail the failed region's bucket holds beyond the watermark, when it
	// answered: what failback preserves as a recovered branch (DESIGN 5.5).
	Unreplicated *Tail    `json:"unreplicated,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
	DryRun       *DryRun  `json:"dryRun,omitempty"`
}

// Tail counts blobs beyond the watermark.
type Tail struct {
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
}

// DryRun is what a dry run found; nothing was changed.
type DryRun struct {
	FromAnswers bool      `json:"fromAnswers"`
	FromProblem string    `json:"fromProblem,omitempty"`
	Watermark   time.Time `json:"watermark"`
	Locks       []string  `json:"locks,omitempty"`
	// EstimatedRPOSeconds is what an unplanned failover would lose now; a planned one loses
	// nothing.
	EstimatedRPOSeconds float64  `json:"estimatedRpoSeconds"`
	WouldDo             []string `json:"wouldDo"`
}

// Step is one step of a failover and how long it took.
type Step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Failover moves a database's service from one region to another. Mode planned (a
// switchover with zero loss): a milestone, a snapshot of the users and grants, and DETACH in
// From; drain replication; prove by a full comparison that the target holds every source blob;
// ATTACH in To, apply the users and grants, run the validation queries; record the new
// primary in every bucket. Replication stays paused after the drain.
// If a step fails after the DETACH and before the ATTACH in To, the database is attached in
// From again, so that a failed switchover does not leave it down.
func Failover(ctx workflow.Context, in FailoverInput) (FailoverResult, error) {
	if err := validateFailoverInput(in); err != nil {
		return FailoverResult{}, err
	}
	f := &failover{in: in, res: FailoverResult{Database: in.Database, From: in.From, To: in.To, Mode: in.Mode}}
	var err error
	switch {
	case in.DryRun:
		err = f.dryRun(ctx)
	case in.Mode == ModePlanned:
		err = f.planned(ctx)
	default:
		err = f.unplanned(ctx)
	}
	if !in.DryRun {
		f.recordMetrics(ctx, err)
	}
	return f.res, err
}

type failover struct {
	in           FailoverInput
	res          FailoverResult
	security     *activities.Security // applied in To; planned: read in From before the detach
	retention    time.Duration        // how far back an attach at a time can go
	fenceTimeout time.Duration        // how long From is given to answer
	fromSilentAt time.Time            // when From's bucket was first seen not answering
}

func validateFailoverInput(in FailoverInput) error {
	errs := routeErrors(in.Database, in.From, in.To)
	switch in.Mode {
	case ModePlanned:
		if in.At != nil {
			errs = append(errs, errors.New("at: a planned failover attaches at latest, with nothing lost; at is for unplanned failovers"))
		}
	case ModeUnplanned:
		if in.At != nil {
			switch hasName, hasTime := in.At.Milestone != "", !in.At.Time.IsZero(); {
			case hasName && hasTime:
				errs = append(errs, errors.New("at: milestone and time are exclusive; give one"))
			case !hasName && !hasTime:
				errs = append(errs, errors.New("at: give a milestone or a time, or leave at out to attach at latest"))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("mode: must be %q or %q, got %q", ModePlanned, ModeUnplanned, in.Mode))
	}
	if len(errs) > 0 {
		return temporal.NewNonRetryableApplicationError("invalid input: "+sortedJoin(errs), activities.ErrInvalidInput, nil)
	}
	return nil
}

// step runs fn as a named step, timing it and showing it in the UI.
func (f *failover) step(ctx workflow.Context, name string, fn func(ctx workflow.Context) error) error {
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s failover** of %s: %s → %s  \nstep: %s  \ndone: %s",
		f.in.Mode, f.in.Database, f.in.From, f.in.To, name, f.stepNames()))
	began := workflow.Now(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// Every failover activity heartbeats each second, so a worker that dies in a step is
		// noticed within the heartbeat timeout; an ATTACH of a large database may take long.
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    activities.SyncHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{activities.ErrInvalidInput}},
		Summary: name,
	})
	err := fn(actx)
	f.res.Steps = append(f.res.Steps, Step{Name: name, Seconds: workflow.Now(ctx).Sub(began).Seconds()})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// long gives a step that may take long (a drain, a full comparison) room.
func long(ctx workflow.Context) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	opts.StartToCloseTimeout = 6 * time.Hour
	return workflow.WithActivityOptions(ctx, opts)
}

func (f *failover) stepNames() string {
	names := make([]string, len(f.res.Steps))
	for i, s := range f.res.Steps {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

func (f *failover) planned(ctx workflow.Context) error {
	var r *activities.Replicator
	var c *activities.Cluster
	in := f.in
	if err := f.checkPlanned(ctx); err != nil {
		return err
	}
	began := workflow.Now(ctx)
	f.res.Milestone = "failover_" + began.UTC().Format("20060102150405")
	if err := f.step(ctx, "milestone in "+in.From, func(actx workflow.Context) error {
		var created activities.MilestoneCreated
		if err := workflow.ExecuteActivity(actx, c.CreateMilestone, activities.CreateMilestoneInput{Database: in.Database, Region: in.From, Name: f.res.Milestone}).Get(ctx, &created); err != nil {
			return err
		}
		m := replication.Milestone{Database: in.Database, Name: f.res.Milestone, Region: in.From, Time: created.Time, CreatedBy: workflow.GetInfo(ctx).WorkflowExecution.ID}
		return workflow.ExecuteActivity(actx, r.RecordMilestone, m).Get(ctx, nil)
	}); err != nil {
		return err
	}
	if err := f.step(ctx, "snapshot users and grants in "+in.From, func(actx workflow.Context) error {
		var sec activities.Security
		if err := workflow.ExecuteActivity(actx, c.ReadSecurity, activities.RegionDatabase{Database: in.Database, Region: in.From}).Get(ctx, &sec); err != nil {
			return err
		}
		f.security = &sec
		rec := activities.SecurityRecord{Database: in.Database, Region: in.From, Security: sec}
		return workflow.ExecuteActivity(actx, r.RecordSecurity, rec).Get(ctx, nil)
	}); err != nil {
		return err
	}
	// The service stops here: RTO counts from the detach.
	stopped := workflow.Now(ctx)
	if err := f.step(ctx, "detach in "+in.From, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, c.Detach, activities.RegionDatabase{Database: in.Database, Region: in.From}).Get(ctx, nil)
	}); err != nil {
		return err
	}
	if err := f.switchOver(ctx); err != nil {
		f.rollback(ctx, err)
		return err
	}
	f.res.RTOSeconds = workflow.Now(ctx).Sub(stopped).Seconds()
	if err := f.recordPrimary(ctx); err != nil {
		return err
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**done**: %s is served from %s. RPO %.0fs (proved: %d blobs compared, none missing), RTO %.1fs  \nsteps: %s",
		in.Database, in.To, f.res.RPOSeconds, f.res.Compared.Checked, f.res.RTOSeconds, f.stepNames()))
	return nil
}

// checkPlanned checks, changing nothing, that a switchover can go ahead: the names, both
// buckets, the recorded primary, a running replication (zero loss needs it to drain) and To's
// cluster.
func (f *failover) checkPlanned(ctx workflow.Context) error {
	var r *activities.Replicator
	var c *activities.Cluster
	var ctl *activities.Control
	in := f.in
	return f.step(ctx, "check", func(actx workflow.Context) error {
		var prep activities.PrepareResult
		if err := workflow.ExecuteActivity(actx, r.Prepare, activities.PrepareInput{Database: in.Database, From: in.From, To: in.To}).Get(ctx, &prep); err != nil {
			return err
		}
		f.fenceTimeout = prep.FenceTimeout
		if err := f.checkPrimary(ctx, actx); err != nil {
			return err
		}
		if err := workflow.ExecuteActivity(actx, ctl.CheckRunning, ReplicateID(in.Database, in.From, in.To)).Get(ctx, nil); err != nil {
			return err
		}
		return workflow.ExecuteActivity(actx, c.Health, activities.RegionDatabase{Database: in.Database, Region: in.To}).Get(ctx, nil)
	})
}

// switchOver drains, proves zero loss, and attaches in To. Any error leaves From detached;
// the caller rolls back.
func (f *failover) switchOver(ctx workflow.Context) error {
	var r *activities.Replicator
	var ctl *activities.Control
	in := f.in
	if err := f.step(ctx, "drain replication", func(actx workflow.Context) error {
		var out activities.DrainOutcome
		err := workflow.ExecuteActivity(long(actx), ctl.DrainReplication, activities.DrainInput{
			WorkflowID: ReplicateID(in.Database, in.From, in.To), UpdateName: UpdateDrain, Quiescent: true}).Get(ctx, &out)
		f.res.Watermark = out.Watermark.Time
		return err
	}); err != nil {
		return err
	}
	if err := f.step(ctx, "compare source and target", func(actx workflow.Context) error {
		if err := workflow.ExecuteActivity(long(actx), r.CompareAll, activities.CompareInput{Database: in.Database, From: in.From, To: in.To}).Get(ctx, &f.res.Compared); err != nil {
			return err
		}
		if n := f.res.Compared.Missing + f.res.Compared.Mismatched; n > 0 {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the target lacks %d of %d source blobs (first: %v): a switchover now would lose data",
				n, f.res.Compared.Checked, f.res.Compared.DifferingKeys), "DataWouldBeLost", nil)
		}
		return nil
	}); err != nil {
		return err
	}
	f.res.RPOSeconds = 0 // proved: every source blob is in the target
	return f.serveFromTarget(ctx, activities.AttachInput{RegionDatabase: activities.RegionDatabase{Database: in.Database, Region: in.To}})
}

// serveFromTarget removes the stale storage locks in To, attaches the database there (at
// latest, a milestone or a time), applies the users and grants snapshot and runs the
// validation queries. Only call it once From is fenced or declared lost (DESIGN 5.4).
func (f *failover) serveFromTarget(ctx workflow.Context, at activities.AttachInput) error {
	var r *activities.Replicator
	var c *activities.Cluster
	in := f.in
	target := at.RegionDatabase
	if err := f.step(ctx, "remove storage locks in "+in.To, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, r.RemoveLocks, target).Get(ctx, nil)
	}); err != nil {
		return err
	}
	if err := f.step(ctx, "attach in "+in.To, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, c.Attach, at).Get(ctx, nil)
	}); err != nil {
		return err
	}
	if f.security != nil {
		if err := f.step(ctx, "apply users and grants in "+in.To, func(actx workflow.Context) error {
			return workflow.ExecuteActivity(actx, c.ApplySecurity, activities.ApplySecurityInput{Region: in.To, Security: *f.security}).Get(ctx, &f.res.Security)
		}); err != nil {
			return err
		}
	}
	return f.step(ctx, "validate in "+in.To, func(actx workflow.Context) error {
		queries := append([]string{"SHOW TABLES FROM `" + in.Database + "`"}, in.Validate...)
		return workflow.ExecuteActivity(actx, c.Validate, activities.ValidateInput{RegionDatabase: target, Queries: queries}).Get(ctx, &f.res.Validation)
	})
}

// recordPrimary writes the new primary to every bucket that answers.
func (f *failover) recordPrimary(ctx workflow.Context) error {
	var r *activities.Replicator
	err := f.step(ctx, "record primary", func(actx workflow.Context) error {
		p := replication.Primary{Database: f.in.Database, Region: f.in.To, Since: workflow.Now(ctx), By: workflow.GetInfo(ctx).WorkflowExecution.ID}
		return workflow.ExecuteActivity(actx, r.RecordPrimary, p).Get(ctx, &f.res.RecordedIn)
	})
	if err == nil {
		f.res.NewPrimary = f.in.To
	}
	return err
}

// recordMetrics hands the outcome to the worker's metrics. A failure to record is logged,
// never the failover's result.
func (f *failover) recordMetrics(ctx workflow.Context, failure error) {
	var rep *activities.Reporter
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
	out := activities.FailoverOutcome{Database: f.in.Database, From: f.in.From, To: f.in.To, Mode: f.in.Mode,
		Succeeded: failure == nil, RPOSeconds: f.res.RPOSeconds, RTOSeconds: f.res.RTOSeconds}
	if err := workflow.ExecuteActivity(actx, rep.RecordFailover, out).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("failover metrics not recorded", "error", err)
	}
}

// rollback attaches the database in From again after a failed switchover, so that service
// resumes where it was; the original error is what the workflow reports.
func (f *failover) rollback(ctx workflow.Context, cause error) {
	var c *activities.Cluster
	err := f.step(ctx, "roll back: attach in "+f.in.From, func(actx workflow.Context) error {
		from := activities.RegionDatabase{Database: f.in.Database, Region: f.in.From}
		return workflow.ExecuteActivity(actx, c.Attach, activities.AttachInput{RegionDatabase: from}).Get(ctx, nil)
	})
	workflow.GetLogger(ctx).Error("failover failed; rolled back", "cause", cause, "rollbackError", err)
}
