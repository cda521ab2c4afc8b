package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/database"
)

// The database half of a DR drill (workflows.TestFailover): every activity here runs in the
// drill's region's cluster, on the branch, never on the database itself.

// BranchAttachInput names a branch to attach: the database it is a copy of, the name it is
// attached under, its root path in the region's bucket and the point to attach at.
type BranchAttachInput struct {
	Database    string    `json:"database"`
	Region      string    `json:"region"`
	Branch      string    `json:"branch"`
	BranchRoot  string    `json:"branchRoot"`
	AtMilestone string    `json:"atMilestone,omitempty"`
	AtTime      time.Time `json:"atTime,omitzero"`
}

// AttachBranch attaches the branch in the region's cluster under its own name
// (ATTACH <db> AS <branch> ON S3 "<bucket>/<branch root>"), at latest or at the milestone or
// time given. It is idempotent: a branch attached already is left as it is.
func (c *Cluster) AttachBranch(ctx context.Context, in BranchAttachInput) error {
	defer heartbeatEverySecond(ctx, noDetails)()
	if _, err := c.cfg.Database(in.Database); err != nil {
		return invalid(err)
	}
	conn, attached, err := c.attachedAs(ctx, in.Region, in.Branch)
	if err != nil || attached {
		return err
	}
	store := c.cfg.Regions[in.Region].ObjectStore
	creds, ok := c.creds[in.Region]
	if !ok {
		return invalid(fmt.Errorf("regions.%s.object_store: no credentials for ATTACH", in.Region))
	}
	err = conn.Attach(ctx, database.AttachSpec{
		Database: in.Database, As: in.Branch, Bucket: store.Bucket, Path: in.BranchRoot,
		Store: database.StoreConfig{Region: store.Region, EndpointURL: store.Endpoint, ForcePathStyle: store.PathStyle},
		Creds: creds, AtMilestone: in.AtMilestone, AtTime: in.AtTime,
	})
	switch {
	case database.IsInvalid(err):
		return invalid(err)
	case database.Answered(err) && activity.GetInfo(ctx).Attempt == 1:
		// The cluster refused the branch (a gap in the logs, a lock): the same copy would be
		// refused again. On a later attempt the refusal may be of the earlier attempt's
		// ATTACH still running (its worker died): the retry then finds the branch attached.
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrAttachRefused, nil)
	}
	return err
}

// ErrAttachRefused is the error type of an ATTACH the cluster answered with an error.
const ErrAttachRefused = "AttachRefused"

// BranchName names a branch attached in a region.
type BranchName struct {
	Region string `json:"region"`
	Branch string `json:"branch"`
}

// DetachBranch detaches the branch, if attached, and reports whether it was. It detaches with
// FORCE: the branch is about to be deleted, so nothing it holds need be uploaded first. It is
// idempotent.
func (c *Cluster) DetachBranch(ctx context.Context, in BranchName) (bool, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	conn, attached, err := c.attachedAs(ctx, in.Region, in.Branch)
	if err != nil || !attached {
		return false, err
	}
	return true, conn.Detach(ctx, in.Branch, true)
}

// attachedAs reports whether a database called name is attached in the region.
func (c *Cluster) attachedAs(ctx context.Context, region, name string) (*database.Client, bool, error) {
	conn, err := c.client(ctx, region)
	if err != nil {
		return nil, false, err
	}
	names, err := conn.Databases(ctx)
	if err != nil {
		return nil, false, err
	}
	for _, n := range names {
		if n == name {
			return conn, true, nil
		}
	}
	return conn, false, nil
}

// ValidateBranch runs the read-only validation queries with the branch as the default
// database, as Validate runs them (the read-only DSN when configured; rows kept only with
// KeepRows). ValidateInput.Database names the branch.
func (c *Cluster) ValidateBranch(ctx context.Context, in ValidateInput) ([]QueryResult, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	return c.validate(ctx, in, func(conn *database.Client) ([]QueryResult, error) {
		return conn.ValidateIn(ctx, in.Database, in.Queries)
	})
}

// CheckSecurity checks, running nothing, that the users and grants snapshot would apply in a
// failover (database.PlanSecurity), and which users would come up locked: those the
// configuration has no password reference for. A snapshot that would not apply is reported
// in Problem, not as an error: it is a finding of the drill.
func (c *Cluster) CheckSecurity(ctx context.Context, in LoadedSecurity) (SecurityCheck, error) {
	check := SecurityCheck{Found: in.Found, TakenIn: in.Record.Region}
	if !in.Found {
		return check, nil
	}
	plan, err := database.PlanSecurity(in.Record.Security, c.passwords)
	if err != nil {
		check.Problem = err.Error()
		return check, nil
	}
	check.Users, check.Roles, check.Groups, check.Grants, check.Locked = plan.Users, plan.Roles, plan.Groups, plan.Grants, plan.Locked
	return check, nil
}
