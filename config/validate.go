package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Patterns quoted in error messages. The checks themselves are written out
// by hand (isRegionName, isDatabaseName, …) so no regexp state is kept.
const (
	regionNamePattern   = `^[a-z][a-z0-9_-]{0,31}$`
	databaseNamePattern = `^[A-Za-z_][A-Za-z0-9_]{0,63}$`
	rootPathPattern     = `^[A-Za-z0-9._/-]+$`
)

// Bounds of S3 multipart uploads: every part but the last must be at least
// 5 MiB and at most 5 GiB.
const (
	minPartSize = 5 * MiB
	maxPartSize = 5 * GiB
)

// MinSettleWindow is the shortest replication.settle_window Validate accepts.
const MinSettleWindow = time.Second

// reservedPrefix is the folder of each bucket where bottomless-dr keeps its
// own state (watermark, primary, milestones; DESIGN 5.8). No database may
// live there.
const reservedPrefix = ".bdr"

// Validate checks every rule of bdr.yaml and returns all problems at once,
// each a *FieldError naming the full key, joined with errors.Join and sorted
// by key. It does not modify c and does no I/O (endpoints are not contacted,
// secrets are not read).
func (c *Config) Validate() error {
	var v validator
	v.temporal(c.Temporal)
	v.regions(c.Regions)
	v.databases(c.Databases)
	v.replication(c.Replication, c.Failover.Retention)
	v.telemetry(c.Telemetry)
	v.security(c.Security)
	v.failover(c.Failover)
	return joinSorted(v.errs)
}

type validator struct{ errs []*FieldError }

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
}

func (v *validator) required(key, value string) bool {
	if strings.TrimSpace(value) == "" {
		v.add(key, "required")
		return false
	}
	return true
}

func (v *validator) temporal(t Temporal) {
	v.required("temporal.address", t.Address)
	v.required("temporal.namespace", t.Namespace)
	v.required("temporal.task_queue", t.TaskQueue)
	const k = "temporal.tls."
	for _, f := range []struct{ key, file string }{{k + "ca_file", t.TLS.CAFile}, {k + "cert_file", t.TLS.CertFile}, {k + "key_file", t.TLS.KeyFile}} {
		if strings.TrimSpace(f.file) != f.file {
			v.add(f.key, "file name %q has leading or trailing spaces", f.file)
		}
	}
	// A client certificate is a pair: one half is useless and surely a mistake.
	switch {
	case t.TLS.CertFile != "" && t.TLS.KeyFile == "":
		v.add(k+"key_file", "required with cert_file (the client certificate's private key)")
	case t.TLS.KeyFile != "" && t.TLS.CertFile == "":
		v.add(k+"cert_file", "required with key_file (the client certificate)")
	}
	if t.APIKeyEnv != "" && !isEnvName(t.APIKeyEnv) {
		v.add("temporal.api_key_env", "%q is not an environment variable name", t.APIKeyEnv)
	}
}

func (v *validator) regions(regions map[string]Region) {
	// DR needs somewhere to fail over to.
	if len(regions) < 2 {
		v.add("regions", "at least two regions required, have %d", len(regions))
	}
	for name, r := range regions {
		key := "regions." + name
		if !isRegionName(name) {
			v.add(key, "region name must match %s", regionNamePattern)
		}
		v.objectStore(key+".object_store", r.ObjectStore)
		v.databaseConn(key+".database", r.Database)
	}
}

func (v *validator) objectStore(key string, o ObjectStore) {
	if v.required(key+".endpoint", o.Endpoint) {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(key+".endpoint", "must be an http:// or https:// URL, got %q", o.Endpoint)
		}
	}
	if v.required(key+".bucket", o.Bucket) && !isBucketName(o.Bucket) {
		v.add(key+".bucket", "invalid S3 bucket name %q: 3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", o.Bucket)
	}
	v.secretRef(key, "access_key_id", o.AccessKeyIDEnv, o.AccessKeyIDFile, true)
	v.secretRef(key, "secret_access_key", o.SecretAccessKeyEnv, o.SecretAccessKeyFile, true)
}

func (v *validator) databaseConn(key string, d DatabaseConn) {
	v.secretRef(key, "dsn", d.DSNEnv, d.DSNFile, false)
	v.secretRef(key, "validate_dsn", d.ValidateDSNEnv, d.ValidateDSNFile, false)
	// Validation runs where a failover attaches, which takes the main DSN.
	if d.HasValidateDSN() && !d.HasDSN() {
		k := key + ".validate_dsn_env"
		if d.ValidateDSNEnv == "" {
			k = key + ".validate_dsn_file"
		}
		v.add(k, "set only beside dsn_env or dsn_file: validation queries run in a region whose database can be attached")
	}
}

// secretRef checks a <name>_env / <name>_file pair: exactly one set when
// required, at most one otherwise, and an env name that a shell can export.
func (v *validator) secretRef(key, name, env, file string, required bool) {
	envKey, fileKey := key+"."+name+"_env", key+"."+name+"_file"
	switch {
	case env != "" && file != "":
		v.add(envKey, "set exactly one of %s_env and %s_file, both are set", name, name)
	case env == "" && file == "" && required:
		v.add(envKey, "set exactly one of %s_env and %s_file, neither is set", name, name)
	case env != "" && !isEnvName(env):
		v.add(envKey, "%q is not an environment variable name", env)
	case file != "" && strings.TrimSpace(file) != file:
		v.add(fileKey, "file name %q has leading or trailing spaces", file)
	}
}

func (v *validator) databases(dbs []Database) {
	if len(dbs) == 0 {
		v.add("databases", "at least one database required")
	}
	seenName := map[string]int{}
	for i, d := range dbs {
		key := fmt.Sprintf("databases[%d]", i)
		if v.required(key+".name", d.Name) {
			if !isDatabaseName(d.Name) {
				v.add(key+".name", "%q must match %s (it becomes an SQL identifier)", d.Name, databaseNamePattern)
			}
			// SingleStore may fold identifier case, so "Sales" and "sales"
			// could be the same database: refuse both.
			lower := strings.ToLower(d.Name)
			if j, dup := seenName[lower]; dup {
				v.add(key+".name", "duplicate database name %q (also databases[%d])", d.Name, j)
			} else {
				seenName[lower] = i
			}
		}
		if v.required(key+".root_path", d.RootPath) {
			if problem := rootPathProblem(d.RootPath); problem != "" {
				v.add(key+".root_path", "%q %s", d.RootPath, problem)
			}
		}
	}
	// Two databases in one folder (or one inside the other) would replicate,
	// seal and attach each other's blobs.
	for i := range dbs {
		for j := 0; j < i; j++ {
			a, b := dbs[j].RootPath, dbs[i].RootPath
			if a == "" || b == "" {
				continue
			}
			if a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/") {
				v.add(fmt.Sprintf("databases[%d].root_path", i), "%q overlaps databases[%d].root_path %q", b, j, a)
			}
		}
	}
}

// rootPathProblem returns why p cannot be a database's root path, or "".
func rootPathProblem(p string) string {
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._/-", r)) {
			return "must match " + rootPathPattern
		}
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return "must not start or end with /"
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		switch s {
		case "":
			return "must not contain an empty segment (//)"
		case ".", "..":
			return "must not contain . or .. segments"
		}
	}
	if segs[0] == reservedPrefix {
		return "must not start with " + reservedPrefix + "/ (reserved for bottomless-dr state)"
	}
	return ""
}

// replication checks r; retention is failover.retention, the floor of delete_delay.
func (v *validator) replication(r Replication, retention time.Duration) {
	const k = "replication."
	if r.PollInterval <= 0 {
		v.add(k+"poll_interval", "must be > 0, got %s", r.PollInterval)
	}
	// The store's LastModified (on AWS) and its Date header have one-second resolution
	// (DESIGN 10): a shorter window cannot tell "settled" from "written in the same second".
	if r.SettleWindow < MinSettleWindow {
		v.add(k+"settle_window", "must be >= %s (S3's LastModified and Date header have one-second resolution), got %s", MinSettleWindow, r.SettleWindow)
	}
	if r.Concurrency < 1 || r.Concurrency > 1024 {
		v.add(k+"concurrency", "must be between 1 and 1024, got %d", r.Concurrency)
	}
	if r.BatchMaxObjects < 1 {
		v.add(k+"batch_max_objects", "must be >= 1, got %d", r.BatchMaxObjects)
	}
	if r.BatchMaxBytes < 1 {
		v.add(k+"batch_max_bytes", "must be >= 1, got %d", int64(r.BatchMaxBytes))
	}
	if r.Order != OrderSealed && r.Order != OrderStrict {
		v.add(k+"order", "must be %q or %q, got %q", OrderSealed, OrderStrict, r.Order)
	}
	for i, p := range r.Exclude {
		key := fmt.Sprintf("%sexclude[%d]", k, i)
		if strings.TrimSpace(p) == "" {
			v.add(key, "pattern must not be empty")
		} else if _, err := path.Match(p, ""); err != nil {
			v.add(key, "invalid pattern %q: %v", p, err)
		}
	}
	if r.AntiEntropyInterval < 0 {
		v.add(k+"anti_entropy_interval", "must be >= 0 (0 turns it off), got %s", r.AntiEntropyInterval)
	}
	// A point-in-time attach inside the retention window needs every blob the source held
	// then: the target must not delete one sooner than that.
	if !r.DeleteDelay.Never() && (r.DeleteDelay < 0 || r.DeleteDelay.Duration() < retention) {
		v.add(k+"delete_delay", "must be >= failover.retention (%s), so that the target keeps every blob a point-in-time attach inside the retention window needs, or %q; got %s",
			formatDuration(retention), "never", r.DeleteDelay)
	}
	if r.MultipartThreshold < minPartSize {
		v.add(k+"multipart_threshold", "must be >= %s (the S3 minimum part size), got %s", minPartSize, r.MultipartThreshold)
	}
	if r.PartSize < minPartSize || r.PartSize > maxPartSize {
		v.add(k+"part_size", "must be between %s and %s (S3 part size limits), got %s", minPartSize, maxPartSize, r.PartSize)
	}
	v.listen(k+"notifications_listen", r.NotificationsListen)
	if r.NotificationsTokenEnv != "" {
		if !isEnvName(r.NotificationsTokenEnv) {
			v.add(k+"notifications_token_env", "%q is not an environment variable name", r.NotificationsTokenEnv)
		} else if r.NotificationsListen == "" {
			v.add(k+"notifications_token_env", "set only beside notifications_listen")
		}
	}
	v.sqs(k+"notifications_sqs", r.NotificationsSQS)
}

// sqs checks the optional SQS queue of bucket notifications: with queue_url, a region and
// credentials as an object store's; without it, no other key.
func (v *validator) sqs(key string, q SQS) {
	if !q.Enabled() {
		if q != (SQS{}) {
			v.add(key+".queue_url", "required when any other notifications_sqs key is set")
		}
		return
	}
	if u, err := url.Parse(q.QueueURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		v.add(key+".queue_url", "must be the queue's http:// or https:// URL (https://sqs.<region>.amazonaws.com/<account>/<name>), got %q", q.QueueURL)
	}
	v.required(key+".region", q.Region)
	if q.Endpoint != "" {
		if u, err := url.Parse(q.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(key+".endpoint", "must be an http:// or https:// URL or empty, got %q", q.Endpoint)
		}
	}
	v.secretRef(key, "access_key_id", q.AccessKeyIDEnv, q.AccessKeyIDFile, true)
	v.secretRef(key, "secret_access_key", q.SecretAccessKeyEnv, q.SecretAccessKeyFile, true)
}

// listen checks an optional host:port to listen on (empty: off).
func (v *validator) listen(key, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, "must be host:port or empty, got %q", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(key, "port must be a number 0-65535, got %q", port)
	}
}

func (v *validator) telemetry(t Telemetry) {
	v.required("telemetry.service_name", t.ServiceName)
	v.listen("telemetry.metrics_listen", t.MetricsListen) // empty: metrics disabled
}

func isRegionName(s string) bool {
	if len(s) < 1 || len(s) > 32 || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for _, r := range s[1:] {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func isDatabaseName(s string) bool { return len(s) <= 64 && isIdentifier(s) }

// isEnvName reports whether s is a POSIX-portable environment variable name.
func isEnvName(s string) bool { return isIdentifier(s) }

// isIdentifier reports whether s matches ^[A-Za-z_][A-Za-z0-9_]*$.
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'
		if !letter && (i == 0 || !(r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

// isBucketName applies the S3 general-purpose bucket naming rules that matter
// for path-style and virtual-hosted access alike.
func isBucketName(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '.' && c != '-' {
			return false
		}
	}
	// "a..b" is not a valid DNS label sequence, and an IP-shaped name would be
	// mistaken for an address in virtual-hosted URLs.
	return !strings.Contains(s, "..") && net.ParseIP(s) == nil
}

// userName is what a migrated user's name or host may look like.
var userName = regexp.MustCompile(`^[A-Za-z0-9_.%@-]{1,64}$`)

func (v *validator) security(s Security) {
	seen := map[[2]string]bool{}
	for i, p := range s.Passwords {
		key := fmt.Sprintf("security.passwords[%d]", i)
		if !userName.MatchString(p.User) {
			v.add(key+".user", "must be a user name (letters, digits, _ . @ -), got %q", p.User)
		}
		if p.Host != "" && !userName.MatchString(p.Host) {
			v.add(key+".host", "must be a host pattern (letters, digits, _ . %% -), got %q", p.Host)
		}
		if seen[[2]string{p.User, p.hostOrAny()}] {
			v.add(key+".user", "'%s'@'%s' is listed twice", p.User, p.hostOrAny())
		}
		seen[[2]string{p.User, p.hostOrAny()}] = true
		v.secretRef(key, "password", p.PasswordEnv, p.PasswordFile, true)
	}
}

func (v *validator) failover(f Failover) {
	if f.FenceTimeout <= 0 || f.FenceTimeout > 10*time.Minute {
		v.add("failover.fence_timeout", "must be > 0 and <= 10m, got %s", f.FenceTimeout)
	}
	if f.DrainTimeout <= 0 || f.DrainTimeout > 6*time.Hour {
		v.add("failover.drain_timeout", "must be > 0 and <= 6h, got %s", f.DrainTimeout)
	}
	if f.MaxLag <= 0 {
		v.add("failover.max_lag", "must be > 0, got %s", f.MaxLag)
	}
	if f.UnplannedDrainTimeout < 0 {
		v.add("failover.unplanned_drain_timeout", "must be >= 0 (0: seal without draining), got %s", f.UnplannedDrainTimeout)
	}
	if f.Retention <= 0 {
		v.add("failover.retention", "must be > 0, got %s", f.Retention)
	}
}
