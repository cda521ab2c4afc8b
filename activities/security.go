package activities

import (
	"context"
	"fmt"

	"github.com/bottomless-dr/bottomless-dr/database"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// Security is database.Security: users, roles, groups and grants, without any password.
type Security = database.Security

// ApplyReport is database.ApplyReport.
type ApplyReport = database.ApplyReport

// ReadSecurity reads the users, roles, groups and grants of the region's cluster. They are
// cluster state, not in the bucket, and SingleStore does not replicate them (DESIGN 6).
func (c *Cluster) ReadSecurity(ctx context.Context, in RegionDatabase) (Security, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	return c.readSecurity(ctx, in.Region)
}

func (c *Cluster) readSecurity(ctx context.Context, region string) (Security, error) {
	conn, err := c.client(ctx, region)
	if err != nil {
		return Security{}, err
	}
	return conn.ReadSecurity(ctx)
}

// ApplySecurityInput is a security snapshot to apply in a region.
type ApplySecurityInput struct {
	Region   string   `json:"region"`
	Security Security `json:"security"`
}

// ApplySecurity makes the region's cluster hold the snapshot's users, roles, groups and grants.
// A user's password comes from the configuration (security.passwords); a user without one is
// created with an unusable password and reported as locked. It is idempotent.
func (c *Cluster) ApplySecurity(ctx context.Context, in ApplySecurityInput) (ApplyReport, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	conn, err := c.client(ctx, in.Region)
	if err != nil {
		return ApplyReport{}, err
	}
	report, err := conn.ApplySecurity(ctx, in.Security, c.passwords)
	if database.IsInvalid(err) {
		return report, invalid(err)
	}
	return report, err
}

// SecurityRecord is a security snapshot of a database's cluster, as recorded in the buckets.
type SecurityRecord struct {
	Database string   `json:"database"`
	Region   string   `json:"region"` // read from
	Security Security `json:"security"`
}

// RecordSecurity writes the snapshot to every region's bucket under .bdr/<db>/security/, so a
// failover can re-apply it even when the region it came from is gone. It is idempotent.
func (r *Replicator) RecordSecurity(ctx context.Context, rec SecurityRecord) ([]string, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	if _, err := r.cfg.Database(rec.Database); err != nil {
		return nil, invalid(err)
	}
	regions := r.cfg.RegionNames()
	for _, region := range regions {
		if err := replication.WriteSecurity(ctx, r.stores[region], rec.Database, rec); err != nil {
			return nil, fmt.Errorf("region %s: %w", region, err)
		}
	}
	return regions, nil
}
