package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// CreateMilestoneName is the workflow type of CreateMilestone.
const CreateMilestoneName = "CreateMilestone"

// MilestoneID is the workflow ID of the creation of milestone name of db: a second start of
// the same milestone is rejected while the first runs.
func MilestoneID(db, name string) string { return fmt.Sprintf("milestone/%s/%s", db, name) }

// CreateMilestoneInput asks for a milestone (restore point) of a database in a region. Name
// may be empty when NamePrefix is set (schedules): the name is then NamePrefix_YYYYMMDDhhmmss.
type CreateMilestoneInput struct {
	Database   string `json:"database"`
	Region     string `json:"region"`
	Name       string `json:"name,omitempty"`
	NamePrefix string `json:"namePrefix,omitempty"`
}

// MilestoneResult is the milestone as created and recorded.
type MilestoneResult struct {
	Database   string    `json:"database"`
	Region     string    `json:"region"`
	Name       string    `json:"name"`
	Time       time.Time `json:"time"`
	RecordedIn []string  `json:"recordedIn"` // the regions whose bucket holds the record
	Users      int       `json:"users"`      // users whose grants were recorded with it
}

// CreateMilestone runs CREATE MILESTONE in the region's database and records the milestone in
// every region's bucket under .bdr/<db>/milestones/, since SingleStore lists milestones only
// for attached databases and a failover must find them from the secondary bucket alone. It
// records the cluster's users, roles, groups and grants under .bdr/<db>/security/ as well.
func CreateMilestone(ctx workflow.Context, in CreateMilestoneInput) (MilestoneResult, error) {
	if err := validateMilestoneInput(in); err != nil {
		return MilestoneResult{}, err
	}
	name := in.Name
	if name == "" {
		name = in.NamePrefix + "_" + workflow.Now(ctx).UTC().Format("20060102150405")
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("creating milestone **%s** of %s in %s", name, in.Database, in.Region))
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{activities.ErrInvalidInput}},
	})
	var c *activities.Cluster
	var created activities.MilestoneCreated
	err := workflow.ExecuteActivity(withSummary(actx, "CREATE MILESTONE"), c.CreateMilestone,
		activities.CreateMilestoneInput{Database: in.Database, Region: in.Region, Name: name}).Get(ctx, &created)
	if err != nil {
		return MilestoneResult{}, err
	}
	var r *activities.Replicator
	var recorded []string
	m := replication.Milestone{Database: in.Database, Name: name, Region: in.Region, Time: created.Time,
		CreatedBy: workflow.GetInfo(ctx).WorkflowExecution.ID}
	if err := workflow.ExecuteActivity(withSummary(actx, "record in every bucket"), r.RecordMilestone, m).Get(ctx, &recorded); err != nil {
		return MilestoneResult{}, err
	}
	res := MilestoneResult{Database: in.Database, Region: in.Region, Name: name, Time: created.Time, RecordedIn: recorded}
	// Users and grants are cluster state that no bucket holds: each milestone (and so each
	// scheduled one) records them too, for an unplanned failover whose old primary is gone.
	var sec activities.Security
	err = workflow.ExecuteActivity(withSummary(actx, "read users and grants"), c.ReadSecurity,
		activities.RegionDatabase{Database: in.Database, Region: in.Region}).Get(ctx, &sec)
	if err == nil {
		rec := activities.SecurityRecord{Database: in.Database, Region: in.Region, Security: sec}
		err = workflow.ExecuteActivity(withSummary(actx, "record users and grants in every bucket"), r.RecordSecurity, rec).Get(ctx, nil)
	}
	if err != nil {
		return res, fmt.Errorf("milestone %s made, but users and grants not recorded: %w", name, err)
	}
	res.Users = len(sec.Users)
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("milestone **%s** of %s at %s, recorded in %v",
		name, in.Database, created.Time.UTC().Format(time.RFC3339), recorded))
	return res, nil
}

func withSummary(ctx workflow.Context, summary string) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	opts.Summary = summary
	return workflow.WithActivityOptions(ctx, opts)
}

// validateMilestoneInput rejects what can be judged without the configuration; the activity
// checks names against the configuration and the strict SQL patterns.
func validateMilestoneInput(in CreateMilestoneInput) error {
	var errs []error
	if in.Database == "" {
		errs = append(errs, fmt.Errorf("database: required"))
	}
	if in.Region == "" {
		errs = append(errs, fmt.Errorf("region: required"))
	}
	if in.Name == "" && in.NamePrefix == "" {
		errs = append(errs, fmt.Errorf("name: required (or namePrefix, for a schedule)"))
	}
	if len(errs) > 0 {
		return temporal.NewNonRetryableApplicationError("invalid input: "+sortedJoin(errs), activities.ErrInvalidInput, nil)
	}
	return nil
}
