package activities

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/database"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// FenceResult says how the database in a failed region was dealt with: detached there
// (fenced), or declared lost because it could not be reached or did not answer within
// failover.fence_timeout, or, with force, because it refused the detach.
type FenceResult struct {
	Fenced bool   `json:"fenced"`
	Lost   bool   `json:"lost"`
	Reason string `json:"reason,omitempty"` // why the region was declared lost
	// Forced is set when the region answered the DETACH with an error and the operator's force
	// declared it lost all the same.
	Forced bool `json:"forced,omitempty"`
	// Security is the users and grants of From's cluster, read just before the detach when
	// the cluster answers: the freshest there are (grants on a detached database may no
	// longer be listed).
	Security *Security `json:"security,omitempty"`
}

// FenceInput names the database to fence. Force declares the region lost even when its
// database answers the DETACH with an error (DESIGN 5a.2): only the operator may say so.
type FenceInput struct {
	RegionDatabase
	Force bool `json:"force,omitempty"`
}

// ErrFenceRefused is the error type of a fence whose DETACH the region's database answered
// with an error: the database is alive and may still be serving, so the failover stops.
const ErrFenceRefused = "FenceRefused"

// Fence detaches the database in the region, so that it cannot write into its bucket while
// another region attaches a copy (split brain). A region that cannot be reached, or does not
// answer within failover.fence_timeout, is declared lost: that is the reason, not a failure
// of the activity, because an unplanned failover exists for exactly that case. A region that
// answers the DETACH with an error (a missing privilege, a server error) is alive: that is a
// non-retryable ErrFenceRefused failure unless in.Force. The users and grants are read before
// the detach, within a time budget of their own, so that a slow read does not shorten the
// detach's.
func (c *Cluster) Fence(ctx context.Context, in FenceInput) (FenceResult, error) {
	if _, err := c.cfg.Database(in.Database); err != nil {
		return FenceResult{}, invalid(err)
	}
	if _, err := c.cfg.Region(in.Region); err != nil {
		return FenceResult{}, invalid(fmt.Errorf("from: %w", err))
	}
	// The users and grants are read before the detach (grants on a detached database may no
	// longer be listed) and carried in the heartbeat, so that an attempt that follows a crash
	// after the detach still has them.
	var read atomic.Pointer[Security]
	if activity.HasHeartbeatDetails(ctx) {
		var sec Security
		if err := activity.GetHeartbeatDetails(ctx, &sec); err == nil {
			read.Store(&sec)
		}
	}
	defer heartbeatEverySecond(ctx, func() any { return read.Load() })()
	if read.Load() == nil {
		readCtx, cancel := context.WithTimeout(ctx, c.cfg.Failover.FenceTimeout)
		if sec, err := c.readSecurity(readCtx, in.Region); err == nil {
			read.Store(&sec)
			activity.RecordHeartbeat(ctx, &sec)
		}
		cancel()
	}
	res := FenceResult{Security: read.Load()}
	fenceCtx, cancel := context.WithTimeout(ctx, c.cfg.Failover.FenceTimeout)
	defer cancel()
	err := c.detach(fenceCtx, in.RegionDatabase)
	switch {
	case err == nil:
		res.Fenced = true
		return res, nil
	case ctx.Err() != nil:
		return FenceResult{}, ctx.Err() // the activity itself was cancelled or timed out
	case database.Answered(err) && !in.Force:
		return FenceResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"fence %s: the database in %s answered the DETACH with an error, so it is alive and may still be serving: %v; "+
				"fix the cause, or fail over with force if you know it takes no writes", in.Database, in.Region, err),
			ErrFenceRefused, nil)
	case database.Answered(err):
		res.Forced = true
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("no answer within failover.fence_timeout (%s): %w", c.cfg.Failover.FenceTimeout, err)
	}
	res.Lost, res.Reason = true, err.Error()
	return res, nil
}

// ReplicationState is the part of a replication's status that a failover needs.
type ReplicationState struct {
	Running     bool      `json:"running"`
	State       string    `json:"state,omitempty"`
	Watermark   time.Time `json:"watermark"`
	NewestWrite time.Time `json:"newestWrite"` // newest source blob seen by the last sync
	LastSyncAt  time.Time `json:"lastSyncAt"`
	// FailingSince is when syncs began to fail, if they fail now: with the target answering,
	// the source stopped answering (and taking writes) no later than that.
	FailingSince time.Time `json:"failingSince,omitzero"`
	// SourceSilentSince is when the worker running the failing syncs first failed to reach
	// the source's bucket, if that is why they fail.
	SourceSilentSince time.Time `json:"sourceSilentSince,omitzero"`
}

// replicationStatus decodes the status JSON that the Replicate workflow returns.
type replicationStatus struct {
	State     string `json:"state"`
	Watermark struct {
		Time time.Time `json:"time"`
	} `json:"watermark"`
	NewestWrite       time.Time `json:"newestWrite"`
	LastSyncAt        time.Time `json:"lastSyncAt"`
	FailingSince      time.Time `json:"failingSince"`
	SourceSilentSince time.Time `json:"sourceSilentSince"`
}

// StopInput names the replication to stop and its pause update.
type StopInput struct {
	WorkflowID string `json:"workflowId"`
	UpdateName string `json:"updateName"`
}

// StopReplication pauses a running replication and returns its last status once no copy is
// in flight (the pause update returns only then), so that nothing lands in the target after
// it is sealed. A replication that is not running is reported as such: there is nothing to
// stop. It is idempotent.
func (c *Control) StopReplication(ctx context.Context, in StopInput) (ReplicationState, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	if running, err := c.running(ctx, in.WorkflowID); err != nil || !running {
		return ReplicationState{}, err
	}
	var st replicationStatus
	if err := c.update(ctx, in.WorkflowID, in.UpdateName, struct{}{}, &st); err != nil {
		return ReplicationState{}, fmt.Errorf("stop replication %s: %w", in.WorkflowID, err)
	}
	return ReplicationState{Running: true, State: st.State, Watermark: st.Watermark.Time,
		NewestWrite: st.NewestWrite, LastSyncAt: st.LastSyncAt, FailingSince: st.FailingSince,
		SourceSilentSince: st.SourceSilentSince}, nil
}

// SealInput names the target to seal and the seal's ID (where blobs beyond the watermark go).
type SealInput struct {
	Database string `json:"database"`
	Region   string `json:"region"`
	SealID   string `json:"sealId"`
}

// SealReport is what sealing moved aside; the keys are cut to a few, to keep history small.
type SealReport struct {
	Watermark time.Time `json:"watermark"`
	Moved     int       `json:"moved"`
	FirstKeys []string  `json:"firstKeys,omitempty"`
	SealedTo  string    `json:"sealedTo,omitempty"`
}

// Seal makes the region's copy of the database exactly a prefix of the source's history at
// its watermark (DESIGN 5.3): blobs beyond it are moved aside, never deleted. Idempotent.
func (r *Replicator) Seal(ctx context.Context, in SealInput) (SealReport, error) {
	db, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return SealReport{}, err
	}
	defer heartbeatEverySecond(ctx, noDetails)()
	res, err := replication.Seal(ctx, store, in.Database, db.RootPath, in.SealID)
	if err != nil {
		return SealReport{}, err
	}
	return SealReport{Watermark: res.Watermark, Moved: len(res.MovedKeys),
		FirstKeys: res.MovedKeys[:min(len(res.MovedKeys), 10)], SealedTo: res.SealedTo}, nil
}

// CopyState is what a region's bucket says about its copy of a database: everything a
// failover checks before it changes anything.
type CopyState struct {
	Watermark      time.Time               `json:"watermark"`
	WatermarkFound bool                    `json:"watermarkFound"`
	Locks          []string                `json:"locks,omitempty"`
	Milestones     []replication.Milestone `json:"milestones,omitempty"`
	Security       bool                    `json:"security"` // a users and grants snapshot is recorded
}

// InspectCopy reads the region's copy of the database: its watermark, its storage locks, the
// milestones recorded and whether a security snapshot exists. It changes nothing.
func (r *Replicator) InspectCopy(ctx context.Context, in RegionDatabase) (CopyState, error) {
	db, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return CopyState{}, err
	}
	defer heartbeatEverySecond(ctx, noDetails)()
	var st CopyState
	w, found, err := replication.ReadWatermark(ctx, store, in.Database)
	if err != nil {
		return st, storeError(in.Region, err)
	}
	st.Watermark, st.WatermarkFound = w.Time, found
	if st.Locks, err = storageLocks(ctx, store, db.RootPath); err != nil {
		return st, storeError(in.Region, err)
	}
	if st.Milestones, err = replication.ListMilestones(ctx, store, in.Database); err != nil {
		return st, storeError(in.Region, err)
	}
	var rec SecurityRecord
	if st.Security, err = replication.ReadSecurity(ctx, store, in.Database, &rec); err != nil {
		return st, storeError(in.Region, err)
	}
	return st, nil
}

// SourceState is the newest write in the failed region's bucket, if that bucket answers.
type SourceState struct {
	Answered    bool      `json:"answered"`
	Reason      string    `json:"reason,omitempty"` // why it did not answer
	NewestWrite time.Time `json:"newestWrite"`
	// Beyond counts the blobs written after the watermark given: the unreplicated tail.
	BeyondObjects int64 `json:"beyondObjects"`
	BeyondBytes   int64 `json:"beyondBytes"`
	// SilentSince is, when the bucket did not answer, when this worker's client first failed
	// to reach it after its last answer (by the store's clock, erring late): the bucket took
	// no write after it. The worker that ran the replication saw the failure as it happened.
	SilentSince time.Time `json:"silentSince,omitzero"`
}

// SourceInput names a region's copy of a database and a watermark to count beyond.
type SourceInput struct {
	RegionDatabase
	Watermark time.Time `json:"watermark"`
}

// InspectSource lists the failed region's copy, within failover.fence_timeout, to find its
// newest write and the tail that was never replicated: the measured RPO. A bucket that does
// not answer is reported, not an error: it is the expected case of an unplanned failover.
func (r *Replicator) InspectSource(ctx context.Context, in SourceInput) (SourceState, error) {
	db, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return SourceState{}, err
	}
	defer heartbeatEverySecond(ctx, noDetails)()
	listCtx, cancel := context.WithTimeout(ctx, r.cfg.Failover.FenceTimeout)
	defer cancel()
	l, err := store.ListParallel(listCtx, db.RootPath+"/")
	if err != nil {
		if ctx.Err() != nil {
			return SourceState{}, ctx.Err()
		}
		return SourceState{Reason: err.Error(), SilentSince: store.Contact().SilentSince}, nil
	}
	st := SourceState{Answered: true}
	for _, o := range l.Objects {
		if replication.Excluded(r.cfg.Replication.Exclude, o.Key) {
			continue
		}
		st.NewestWrite = later(st.NewestWrite, o.LastModified)
		if o.LastModified.After(in.Watermark) {
			st.BeyondObjects++
			st.BeyondBytes += o.Size
		}
	}
	return st, nil
}

// LoadedSecurity is the users and grants snapshot recorded in a bucket, if any.
type LoadedSecurity struct {
	Found  bool           `json:"found"`
	Record SecurityRecord `json:"record"`
}

// LoadSecurity reads the users and grants snapshot recorded in the region's bucket: what an
// unplanned failover applies when the failed region's cluster cannot be asked.
func (r *Replicator) LoadSecurity(ctx context.Context, in RegionDatabase) (LoadedSecurity, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	_, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return LoadedSecurity{}, err
	}
	var out LoadedSecurity
	out.Found, err = replication.ReadSecurity(ctx, store, in.Database, &out.Record)
	if err != nil {
		return LoadedSecurity{}, storeError(in.Region, err)
	}
	return out, nil
}

// regionStore returns the configured database and the region's store, or an invalid-input
// error naming the field.
func (r *Replicator) regionStore(database, region string) (config.Database, *objectstore.Client, error) {
	db, err := r.cfg.Database(database)
	if err != nil {
		return db, nil, invalid(err)
	}
	store, ok := r.stores[region]
	if !ok {
		return db, nil, invalid(fmt.Errorf("region: unknown region %q", region))
	}
	return db, store, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func noDetails() any { return nil }

// StoreProbe says whether a region's bucket answered.
type StoreProbe struct {
	Answered bool   `json:"answered"`
	Reason   string `json:"reason,omitempty"` // why it did not
}

// probeBudget bounds ProbeStore: a healthy bucket answers in milliseconds, and an unplanned
// failover's RTO pays for every second a dead one is given.
const probeBudget = 2 * time.Second

// ProbeStore asks the region's bucket one cheap question, within probeBudget (or
// failover.fence_timeout, if shorter). A bucket that does not answer is reported, not an
// error: after a failure that is expected.
func (r *Replicator) ProbeStore(ctx context.Context, in RegionDatabase) (StoreProbe, error) {
	_, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return StoreProbe{}, err
	}
	defer heartbeatEverySecond(ctx, noDetails)()
	probeCtx, cancel := context.WithTimeout(ctx, min(probeBudget, r.cfg.Failover.FenceTimeout))
	defer cancel()
	if err := store.Check(probeCtx); err != nil {
		if ctx.Err() != nil {
			return StoreProbe{}, ctx.Err()
		}
		return StoreProbe{Reason: err.Error()}, nil
	}
	return StoreProbe{Answered: true}, nil
}
