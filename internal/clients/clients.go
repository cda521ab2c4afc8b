// Package clients builds the long-lived clients that the worker and the bdr CLI share from a
// loaded configuration: one object-store client per region (credentials resolved from the
// environment or files here, and kept only in memory), the SQS client of the bucket
// notifications' queue, and the Temporal client (options from internal/temporalconn).
package clients

import (
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/internal/temporalconn"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// Stores returns one object-store client per configured region, keyed by region name.
func Stores(cfg *config.Config) (map[string]*objectstore.Client, error) {
	creds, err := StoreCredentials(cfg)
	if err != nil {
		return nil, err
	}
	stores := make(map[string]*objectstore.Client, len(cfg.Regions))
	for _, name := range cfg.RegionNames() {
		o := cfg.Regions[name].ObjectStore
		c, err := objectstore.New(objectstore.Options{
			Endpoint: o.Endpoint, Region: o.Region, Bucket: o.Bucket, PathStyle: o.PathStyle,
			AccessKeyID: creds[name].AccessKeyID, SecretAccessKey: creds[name].SecretAccessKey,
			MaxConns: cfg.Replication.Concurrency,
		})
		if err != nil {
			return nil, fmt.Errorf("regions.%s.object_store: %w", name, err)
		}
		stores[name] = c
	}
	return stores, nil
}

// StoreCredentials returns the resolved object-store credentials of every region: the worker
// passes them to ATTACH (CREDENTIALS '…'), built from its configuration, never from input.
func StoreCredentials(cfg *config.Config) (map[string]config.Credentials, error) {
	creds := map[string]config.Credentials{}
	for _, name := range cfg.RegionNames() {
		c, err := cfg.Regions[name].ObjectStore.ResolveCredentials(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("regions.%s.object_store: %w", name, err)
		}
		creds[name] = c
	}
	return creds, nil
}

// SQS returns a client of the SQS queue of bucket notifications q
// (replication.notifications_sqs), its credentials resolved now.
func SQS(q config.SQS) (*sqs.Client, error) {
	creds, err := q.ResolveCredentials(os.Getenv)
	if err != nil {
		return nil, err // names replication.notifications_sqs…
	}
	opts := sqs.Options{
		Region:      q.Region,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
	}
	if q.Endpoint != "" {
		opts.BaseEndpoint = aws.String(q.Endpoint)
	}
	return sqs.New(opts), nil
}

// DSNs returns the database DSN of every region that configures one, keyed by region name.
// A DSN holds a password: it stays in the worker's memory and is never logged.
func DSNs(cfg *config.Config) (map[string]string, error) {
	dsns := map[string]string{}
	for _, name := range cfg.RegionNames() {
		conn := cfg.Regions[name].Database
		if conn.DSNEnv == "" && conn.DSNFile == "" {
			continue
		}
		dsn, err := conn.ResolveDSN(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("regions.%s.database: %w", name, err)
		}
		dsns[name] = dsn
	}
	return dsns, nil
}

// ValidateDSNs returns the read-only DSN for validation queries of every region that
// configures one (regions.<r>.database.validate_dsn_env or _file), keyed by region name. Like
// DSNs, it holds passwords and stays in the worker's memory.
func ValidateDSNs(cfg *config.Config) (map[string]string, error) {
	dsns := map[string]string{}
	for _, name := range cfg.RegionNames() {
		conn := cfg.Regions[name].Database
		if !conn.HasValidateDSN() {
			continue
		}
		dsn, err := conn.ResolveValidateDSN(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("regions.%s.database: %w", name, err)
		}
		dsns[name] = dsn
	}
	return dsns, nil
}

// Temporal dials the Temporal frontend of the configuration, with the address, namespace, TLS
// and API key temporalconn.Options derives from it; opts supplies the rest (logger,
// interceptors).
func Temporal(cfg *config.Config, opts client.Options) (client.Client, error) {
	opts, err := temporalconn.Options(cfg.Temporal, opts, os.Getenv)
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("temporal at %s (temporal.address): %w", cfg.Temporal.Address, err)
	}
	return c, nil
}
