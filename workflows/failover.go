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
	Database   string                   `json:"database"`
	From       string                   `json:"from"`
	To         string                   `json:"to"`
	Mode       string                   `json:"mode"`
	NewPrimary string                   `json:"newPrimary"`
	Milestone  string                   `json:"milestone"`
	Watermark  time.Time                `json:"watermark"`
	RPOSeconds float64                  `json:"rpoSeconds"` // planned: 0, proved by Compared
	RTOSeconds float64                  `json:"rtoSeconds"` // from the detach to the verified attach
	Compared   replication.VerifyReport `json:"compared"`
	Validation []activities.QueryResult `json:"validation,omitempty"`
	// Security says which users, roles and groups were created in To and which users were
	// created locked (no password reference in the configuration).
	Security   activities.ApplyReport `json:"security"`
	RecordedIn []string               `json:"recordedIn"`
	Steps      []Step                 `json:"steps"` // the RTO split by step
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
	err := f.planned(ctx)
	return f.res, err
}

type failover struct {
	in       FailoverInput
	res      FailoverResult
	security activities.Security // read in From before the detach
}

func validateFailoverInput(in FailoverInput) error {
	var errs []error
	for _, f := range []struct{ name, value string }{{"database", in.Database}, {"from", in.From}, {"to", in.To}} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("%s: required", f.name))
		}
	}
	if in.From != "" && in.From == in.To {
		errs = append(errs, fmt.Errorf("to: must differ from from (both %q)", in.From))
	}
	switch in.Mode {
	case ModePlanned:
		if in.At != nil {
			errs = append(errs, errors.New("at: a planned failover attaches at latest, with nothing lost; at is for unplanned failovers"))
		}
	case ModeUnplanned:
		errs = append(errs, errors.New("mode: unplanned failover is not available in this release yet; use planned while the primary answers"))
	default:
		errs = append(errs, fmt.Errorf("mode: must be %q or %q, got %q", ModePlanned, ModeUnplanned, in.Mode))
	}
	if in.DryRun {
		errs = append(errs, errors.New("dryRun: not available in this release yet"))
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
		// SQL and bucket steps are short; a worker that dies in one is replaced after this.
		StartToCloseTimeout: 2 * time.Minute,
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

// long gives a step that may take long (a drain, a full comparison) room, and a short
// heartbeat timeout: these activities beat every second, so a dead worker is noticed at once.
func long(ctx workflow.Context) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	opts.StartToCloseTimeout = 6 * time.Hour
	opts.HeartbeatTimeout = activities.SyncHeartbeatTimeout
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
	var ctl *activities.Control
	in := f.in
	replicateID := ReplicateID(in.Database, in.From, in.To)
	if err := f.step(ctx, "check", func(actx workflow.Context) error {
		var prep activities.PrepareResult
		if err := workflow.ExecuteActivity(actx, r.Prepare, activities.PrepareInput{Database: in.Database, From: in.From, To: in.To}).Get(ctx, &prep); err != nil {
			return err
		}
		var current activities.CurrentPrimaryResult
		if err := workflow.ExecuteActivity(actx, r.CurrentPrimary, in.Database).Get(ctx, &current); err != nil {
			return err
		}
		if current.Found && current.Primary.Region == in.To {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("to: %s is already the primary of %s (since %s)",
				in.To, in.Database, current.Primary.Since.UTC().Format(time.RFC3339)), activities.ErrInvalidInput, nil)
		}
		if current.Found && current.Primary.Region != in.From {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("from: the primary of %s is %s, not %s",
				in.Database, current.Primary.Region, in.From), activities.ErrInvalidInput, nil)
		}
		// Zero loss needs the replication to drain: it must be running before From stops.
		if err := workflow.ExecuteActivity(actx, ctl.CheckRunning, replicateID).Get(ctx, nil); err != nil {
			return err
		}
		return workflow.ExecuteActivity(actx, c.Health, activities.RegionDatabase{Database: in.Database, Region: in.To}).Get(ctx, nil)
	}); err != nil {
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
		if err := workflow.ExecuteActivity(actx, c.ReadSecurity, activities.RegionDatabase{Database: in.Database, Region: in.From}).Get(ctx, &f.security); err != nil {
			return err
		}
		rec := activities.SecurityRecord{Database: in.Database, Region: in.From, Security: f.security}
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
	if err := f.step(ctx, "record primary", func(actx workflow.Context) error {
		p := replication.Primary{Database: in.Database, Region: in.To, Since: workflow.Now(ctx), By: workflow.GetInfo(ctx).WorkflowExecution.ID}
		return workflow.ExecuteActivity(actx, r.RecordPrimary, p).Get(ctx, &f.res.RecordedIn)
	}); err != nil {
		return err
	}
	f.res.NewPrimary = in.To
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**done**: %s is served from %s. RPO %.0fs (proved: %d blobs compared, none missing), RTO %.1fs  \nsteps: %s",
		in.Database, in.To, f.res.RPOSeconds, f.res.Compared.Checked, f.res.RTOSeconds, f.stepNames()))
	return nil
}

// switchOver drains, proves zero loss, and attaches in To. Any error leaves From detached;
// the caller rolls back.
func (f *failover) switchOver(ctx workflow.Context) error {
	var r *activities.Replicator
	var c *activities.Cluster
	var ctl *activities.Control
	in := f.in
	if err := f.step(ctx, "drain replication", func(actx workflow.Context) error {
		var out activities.DrainOutcome
		err := workflow.ExecuteActivity(long(actx), ctl.DrainReplication, activities.DrainInput{
			WorkflowID: ReplicateID(in.Database, in.From, in.To), UpdateName: UpdateDrain}).Get(ctx, &out)
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
	target := activities.RegionDatabase{Database: in.Database, Region: in.To}
	if err := f.step(ctx, "remove storage locks in "+in.To, func(actx workflow.Context) error {
		// From is detached (fenced): stale locks in the target may go (DESIGN 5.4).
		return workflow.ExecuteActivity(actx, r.RemoveLocks, target).Get(ctx, nil)
	}); err != nil {
		return err
	}
	if err := f.step(ctx, "attach in "+in.To, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, c.Attach, target).Get(ctx, nil)
	}); err != nil {
		return err
	}
	if err := f.step(ctx, "apply users and grants in "+in.To, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, c.ApplySecurity, activities.ApplySecurityInput{Region: in.To, Security: f.security}).Get(ctx, &f.res.Security)
	}); err != nil {
		return err
	}
	return f.step(ctx, "validate in "+in.To, func(actx workflow.Context) error {
		queries := append([]string{"SHOW TABLES FROM `" + in.Database + "`"}, in.Validate...)
		return workflow.ExecuteActivity(actx, c.Validate, activities.ValidateInput{RegionDatabase: target, Queries: queries}).Get(ctx, &f.res.Validation)
	})
}

// rollback attaches the database in From again after a failed switchover, so that service
// resumes where it was; the original error is what the workflow reports.
func (f *failover) rollback(ctx workflow.Context, cause error) {
	var c *activities.Cluster
	err := f.step(ctx, "roll back: attach in "+f.in.From, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, c.Attach, activities.RegionDatabase{Database: f.in.Database, Region: f.in.From}).Get(ctx, nil)
	})
	workflow.GetLogger(ctx).Error("failover failed; rolled back", "cause", cause, "rollbackError", err)
}
