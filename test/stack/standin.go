package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"
)

// Standin is one running stand-in bottomless database (test/standin): one region's database
// cluster, speaking the MySQL protocol.
type Standin struct {
	Addr         string // host:port
	RootUser     string
	RootPassword string
	proc         *Process
}

// StartStandin starts the stand-in built into binDir, keeping its cluster state in stateDir.
func StartStandin(ctx context.Context, binDir, stateDir string, logw io.Writer) (*Standin, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Standin{Addr: fmt.Sprintf("127.0.0.1:%d", port), RootUser: "root", RootPassword: randomHex(12)}
	p, err := startProcess("standin "+s.Addr, filepath.Join(binDir, "standin"), []string{
		"--listen", s.Addr, "--state-dir", stateDir, "--root-user", s.RootUser, "--root-password", s.RootPassword,
	}, nil, logw)
	if err != nil {
		return nil, err
	}
	s.proc = p
	if err := waitTCP(ctx, p, s.Addr, 60*time.Second); err != nil {
		_ = p.Kill()
		return nil, err
	}
	return s, nil
}

// DSN returns a go-sql-driver/mysql DSN for the root user; database may be empty.
func (s *Standin) DSN(database string) string { return s.DSNAt(s.Addr, database) }

// DSNAt is DSN through another address, e.g. a fault proxy in front of the stand-in.
func (s *Standin) DSNAt(addr, database string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?interpolateParams=false", s.RootUser, s.RootPassword, addr, database)
}

// Stop ends the stand-in gracefully.
func (s *Standin) Stop() error { return s.proc.Stop() }

// Kill ends the stand-in with SIGKILL.
func (s *Standin) Kill() error { return s.proc.Kill() }

// OnS3 returns the ON S3 clause that puts a database's folder root in region's bucket, for
// CREATE DATABASE or ATTACH DATABASE on that region's stand-in. It carries the store's root
// credentials: it is for the tests and the demo, never for a log.
func (s *Stack) OnS3(region, root string) (string, error) {
	m, ok := s.MinIO[region]
	if !ok {
		return "", fmt.Errorf("stack: no region %q", region)
	}
	cfg, err := json.Marshal(map[string]string{"region": "us-east-1", "endpoint_url": m.Endpoint, "s3_force_path_style": "true"})
	if err != nil {
		return "", fmt.Errorf("on s3 config: %w", err)
	}
	creds, err := json.Marshal(map[string]string{"aws_access_key_id": m.AccessKey, "aws_secret_access_key": m.SecretKey})
	if err != nil {
		return "", fmt.Errorf("on s3 credentials: %w", err)
	}
	return fmt.Sprintf(`ON S3 "%s/%s" CONFIG '%s' CREDENTIALS '%s'`, s.opts.Bucket, root, cfg, creds), nil
}
