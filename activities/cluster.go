package activities

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/database"
)

// Cluster runs database operations in the regions' database clusters. Connections are opened
// on first use and kept: a region whose database is down must not stop the worker from
// starting (it is the region a failover leaves). It is safe for concurrent use.
type Cluster struct {
	cfg   *config.Config
	dsns  map[string]string               // region -> DSN, resolved at start; never in inputs or results
	creds map[string]database.Credentials // region -> its object store's credentials, for ATTACH
	// passwords of migrated users, resolved from the configuration's secret references.
	passwords func(user, host string) (string, bool)
	mu        sync.Mutex
	conns     map[string]*database.Client
	openFn    func(ctx context.Context, dsn string) (*database.Client, error)

	// region -> read-only DSN for Validate (regions.<r>.database.validate_dsn_env), resolved at
	// start like dsns and likewise never in inputs or results; a region without one validates
	// on its main DSN. readConns are the connections opened on them.
	validateDSNs map[string]string
	readConns    map[string]*database.Client
}

// NewCluster returns a Cluster over the given DSNs, read-only validation DSNs and object-store
// credentials (all keyed by region name; validateDSNs may be nil or lack a region, whose
// validation queries then run on its main DSN); passwords looks up a migrated user's password
// (nil: none known).
func NewCluster(cfg *config.Config, dsns, validateDSNs map[string]string, creds map[string]database.Credentials,
	passwords func(user, host string) (string, bool)) *Cluster {
	if passwords == nil {
		passwords = func(string, string) (string, bool) { return "", false }
	}
	return &Cluster{cfg: cfg, dsns: dsns, validateDSNs: validateDSNs, creds: creds, passwords: passwords,
		conns: map[string]*database.Client{}, readConns: map[string]*database.Client{}, openFn: database.Open}
}

// CloseCluster closes every connection of c. It is a function, not a method: every exported
// method of an activity struct is registered as an activity.
func CloseCluster(c *Cluster) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	for _, conn := range c.readConns {
		_ = conn.Close()
	}
}

func (c *Cluster) client(ctx context.Context, region string) (*database.Client, error) {
	if _, err := c.cfg.Region(region); err != nil {
		return nil, invalid(fmt.Errorf("region: %w", err))
	}
	dsn, ok := c.dsns[region]
	if !ok {
		return nil, invalid(fmt.Errorf("regions.%s.database.dsn_env: not configured: this region has no database connection", region))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.conns[region]; ok {
		return conn, nil
	}
	conn, err := c.openFn(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("database of region %s: %w", region, err)
	}
	c.conns[region] = conn
	return conn, nil
}

// validateClient is the connection Validate runs queries on: the region's read-only DSN when
// one is configured, its main connection otherwise. The queries pass database.CheckReadOnly
// first either way; a read-only user is what makes that check a second line, not the only one.
func (c *Cluster) validateClient(ctx context.Context, region string) (*database.Client, error) {
	dsn, ok := c.validateDSNs[region]
	if !ok {
		return c.client(ctx, region)
	}
	if _, err := c.cfg.Region(region); err != nil {
		return nil, invalid(fmt.Errorf("region: %w", err))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.readConns[region]; ok {
		return conn, nil
	}
	conn, err := c.openFn(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("read-only database of region %s (regions.%s.database.validate_dsn_env): %w", region, region, err)
	}
	c.readConns[region] = conn
	return conn, nil
}

// CreateMilestoneInput names a milestone to create.
type CreateMilestoneInput struct {
	Database string `json:"database"`
	Region   string `json:"region"`
	Name     string `json:"name"`
}

// MilestoneCreated is the milestone's time as the database reports it.
type MilestoneCreated struct {
	Time time.Time `json:"time"`
}

// CreateMilestone runs CREATE MILESTONE in the region's database and reads the milestone's
// time back. Running it again with the same name moves the milestone to now, as SingleStore
// does for a reused name: the record written afterwards carries the final time.
func (c *Cluster) CreateMilestone(ctx context.Context, in CreateMilestoneInput) (MilestoneCreated, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	if _, err := c.cfg.Database(in.Database); err != nil {
		return MilestoneCreated{}, invalid(err)
	}
	conn, err := c.client(ctx, in.Region)
	if err != nil {
		return MilestoneCreated{}, err
	}
	if err := conn.CreateMilestone(ctx, in.Database, in.Name); err != nil {
		if database.IsInvalid(err) {
			return MilestoneCreated{}, invalid(err)
		}
		return MilestoneCreated{}, err
	}
	milestones, err := conn.Milestones(ctx, in.Database)
	if err != nil {
		return MilestoneCreated{}, err
	}
	for _, m := range milestones {
		if m.Name == in.Name {
			return MilestoneCreated{Time: m.Time}, nil
		}
	}
	return MilestoneCreated{}, fmt.Errorf("milestone %s of %s: created but not listed in information_schema.MV_MILESTONES", in.Name, in.Database)
}
