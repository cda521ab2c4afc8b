package database

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// timeLayout is the AT TIME format SingleStore documents ('YYYY-MM-DD HH:MM:SS', UTC).
const timeLayout = "2006-01-02 15:04:05"

// StoreConfig is the CONFIG JSON of ON S3: where the bucket is served.
type StoreConfig struct {
	Region         string // "region"; empty: omitted
	EndpointURL    string // "endpoint_url" of an S3-compatible store; empty for AWS
	ForcePathStyle bool   // "s3_force_path_style": "true" (path-style addressing)
}

// Credentials is the CREDENTIALS JSON of ON S3. String, GoString, LogValue and MarshalJSON
// hide the secrets, in case a Credentials slips into a log line or, inside an AttachSpec,
// into a workflow's input or result (DESIGN 3: secrets never enter workflow history).
type Credentials struct {
	AccessKeyID     string // "aws_access_key_id"
	SecretAccessKey string // "aws_secret_access_key"
	SessionToken    string // "aws_session_token"; optional
}

// String shows the key ID only.
func (c Credentials) String() string {
	return fmt.Sprintf("{AccessKeyID:%s SecretAccessKey:%s}", c.AccessKeyID, redacted)
}

// GoString hides the secrets from %#v too.
func (c Credentials) GoString() string {
	return fmt.Sprintf("database.Credentials{AccessKeyID:%q, SecretAccessKey:%q}", c.AccessKeyID, redacted)
}

// LogValue hides the secrets from log/slog.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID), slog.String("secret_access_key", redacted))
}

// MarshalJSON writes the key ID and hides the secrets: a Credentials cannot be carried
// through JSON, by design.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"aws_access_key_id": c.AccessKeyID, "aws_secret_access_key": redacted})
}

func (c Credentials) secrets() []string { return []string{c.SecretAccessKey, c.SessionToken} }

// AttachSpec is one ATTACH DATABASE.
type AttachSpec struct {
	Database    string      // the name the database had (in the bucket)
	As          string      // optional: attach under another name (a branch)
	Bucket      string      // bucket holding the database
	Path        string      // the database's root path inside the bucket
	Store       StoreConfig // → CONFIG JSON
	Creds       Credentials // → CREDENTIALS JSON
	AtMilestone string      // optional; exclusive with AtTime
	AtTime      time.Time   // optional, sent in UTC at one-second resolution; exclusive with AtMilestone
}

// attachStatement validates a and builds its statement. Nothing in it comes from a without
// having matched a pattern or been encoded as JSON and quoted.
func attachStatement(a AttachSpec) (string, error) {
	const op = "attach"
	if err := checkDatabase(op, "database", a.Database); err != nil {
		return "", err
	}
	if a.As != "" {
		if err := checkDatabase(op, "as", a.As); err != nil {
			return "", err
		}
	}
	if err := checkBucket(op, "bucket", a.Bucket); err != nil {
		return "", err
	}
	if err := checkPath(op, "path", a.Path); err != nil {
		return "", err
	}
	if err := checkRegion(op, "store.region", a.Store.Region); err != nil {
		return "", err
	}
	if err := checkEndpoint(op, "store.endpoint_url", a.Store.EndpointURL); err != nil {
		return "", err
	}
	if err := checkSecret(op, "creds.aws_access_key_id", a.Creds.AccessKeyID, true); err != nil {
		return "", err
	}
	if err := checkSecret(op, "creds.aws_secret_access_key", a.Creds.SecretAccessKey, true); err != nil {
		return "", err
	}
	if err := checkSecret(op, "creds.aws_session_token", a.Creds.SessionToken, false); err != nil {
		return "", err
	}
	if a.AtMilestone != "" {
		if !a.AtTime.IsZero() {
			return "", invalidf(op, "at_time", "AtMilestone and AtTime are exclusive")
		}
		if err := checkMilestone(op, "at_milestone", a.AtMilestone); err != nil {
			return "", err
		}
	}
	if !a.AtTime.IsZero() && a.AtTime.UTC().Year() < 1970 {
		return "", invalidf(op, "at_time", "time %s is before 1970", a.AtTime.UTC().Format(time.RFC3339))
	}

	var b strings.Builder
	b.WriteString("ATTACH DATABASE " + quoteIdent(a.Database))
	if a.As != "" {
		b.WriteString(" AS " + quoteIdent(a.As))
	}
	b.WriteString(" ON S3 " + quoteDouble(a.Bucket+"/"+a.Path))
	if cfg := configJSON(a.Store); cfg != "" {
		b.WriteString(" CONFIG " + quoteString(cfg))
	}
	b.WriteString(" CREDENTIALS " + quoteString(credentialsJSON(a.Creds)))
	switch {
	case a.AtMilestone != "":
		b.WriteString(" AT MILESTONE " + quoteDouble(a.AtMilestone))
	case !a.AtTime.IsZero():
		b.WriteString(" AT TIME " + quoteString(a.AtTime.UTC().Format(timeLayout)))
	}
	return b.String(), nil
}

// configJSON is the CONFIG object, "" when every field is empty. s3_force_path_style is the
// string "true", as SingleStore documents it.
func configJSON(s StoreConfig) string {
	m := map[string]string{}
	if s.Region != "" {
		m["region"] = s.Region
	}
	if s.EndpointURL != "" {
		m["endpoint_url"] = s.EndpointURL
	}
	if s.ForcePathStyle {
		m["s3_force_path_style"] = "true"
	}
	if len(m) == 0 {
		return ""
	}
	return encodeJSON(m)
}

func credentialsJSON(c Credentials) string {
	m := map[string]string{"aws_access_key_id": c.AccessKeyID, "aws_secret_access_key": c.SecretAccessKey}
	if c.SessionToken != "" {
		m["aws_session_token"] = c.SessionToken
	}
	return encodeJSON(m)
}

// encodeJSON encodes a map of strings (keys sorted, so the statement is deterministic).
func encodeJSON(m map[string]string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(m) // a map of strings always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// Attach runs ATTACH DATABASE for a. Invalid input returns an error that names the field and
// executes nothing. Errors never contain the credentials. It is not idempotent: attaching a
// database that is already attached fails (SingleStore refuses it too), and so does a location
// whose storage lock another cluster holds.
func (c *Client) Attach(ctx context.Context, a AttachSpec) error {
	stmt, err := attachStatement(a)
	if err != nil {
		return err
	}
	name := a.Database
	if a.As != "" {
		name = a.Database + " as " + a.As
	}
	return c.exec(ctx, "attach "+name, stmt, a.Creds.secrets()...)
}

// Detach runs DETACH DATABASE db, with FORCE when force is set. Without FORCE the cluster
// uploads everything outstanding and makes a milestone first; FORCE stops uploads at once and
// loses what was not yet uploaded.
func (c *Client) Detach(ctx context.Context, db string, force bool) error {
	if err := checkDatabase("detach", "database", db); err != nil {
		return err
	}
	stmt := "DETACH DATABASE " + quoteIdent(db)
	if force {
		stmt += " FORCE"
	}
	return c.exec(ctx, "detach "+db, stmt)
}

// Drop runs DROP DATABASE db. For a bottomless database the blobs stay in the bucket for the
// retention period; only the attachment ends.
func (c *Client) Drop(ctx context.Context, db string) error {
	if err := checkDatabase("drop", "database", db); err != nil {
		return err
	}
	return c.exec(ctx, "drop "+db, "DROP DATABASE "+quoteIdent(db))
}

// Databases returns the names SHOW DATABASES lists, system databases included.
func (c *Client) Databases(ctx context.Context) ([]string, error) {
	cols, rows, err := c.rowsAsStrings(ctx, "databases", "SHOW DATABASES")
	if err != nil {
		return nil, err
	}
	i, err := column(cols, "Database")
	if err != nil {
		return nil, fmt.Errorf("databases: %w", err)
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[i])
	}
	return out, nil
}
