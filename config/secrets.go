package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Credentials are an AWS access key: one region's object store's, read from wherever its
// ObjectStore points, or the SQS queue's (SQS). They are built when a client is created and must not
// be logged or put into workflow inputs, results or heartbeats; String,
// GoString and LogValue redact the secret in case one slips into a log line.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

const redacted = "[REDACTED]"

// String shows the key ID and hides the secret.
func (c Credentials) String() string {
	return fmt.Sprintf("{AccessKeyID:%s SecretAccessKey:%s}", c.AccessKeyID, redacted)
}

// GoString hides the secret from %#v too.
func (c Credentials) GoString() string {
	return fmt.Sprintf("config.Credentials{AccessKeyID:%q, SecretAccessKey:%q}", c.AccessKeyID, redacted)
}

// LogValue hides the secret from log/slog.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID), slog.String("secret_access_key", redacted))
}

// ResolveCredentials reads the access key ID and secret from the environment
// variables or files o references (file contents are trimmed of surrounding
// whitespace, so a trailing newline is harmless). getenv is usually
// os.Getenv; nil means os.Getenv. Errors name the key and the variable or
// file, never the value; an empty value is an error.
func (o ObjectStore) ResolveCredentials(getenv func(string) string) (Credentials, error) {
	return resolveCredentials("object_store", o.AccessKeyIDEnv, o.AccessKeyIDFile, o.SecretAccessKeyEnv, o.SecretAccessKeyFile, getenv)
}

// ResolveCredentials reads the queue's access key ID and secret as ObjectStore's
// ResolveCredentials does; errors name replication.notifications_sqs's keys, never a value.
func (q SQS) ResolveCredentials(getenv func(string) string) (Credentials, error) {
	return resolveCredentials("replication.notifications_sqs", q.AccessKeyIDEnv, q.AccessKeyIDFile, q.SecretAccessKeyEnv, q.SecretAccessKeyFile, getenv)
}

// resolveCredentials reads an access key ID and a secret, each from exactly one of an
// environment variable and a file; key is their section, used in error messages.
func resolveCredentials(key, idEnv, idFile, secretEnv, secretFile string, getenv func(string) string) (Credentials, error) {
	id, errID := resolveSecret(key+".access_key_id", idEnv, idFile, getenv)
	secret, errSecret := resolveSecret(key+".secret_access_key", secretEnv, secretFile, getenv)
	if err := errors.Join(errID, errSecret); err != nil {
		return Credentials{}, err
	}
	return Credentials{AccessKeyID: id, SecretAccessKey: secret}, nil
}

// ResolveDSN reads the database DSN from the environment variable or file c
// references, like ResolveCredentials. A region without either has no
// database configured, which is an error here: the caller asked for one.
func (c DatabaseConn) ResolveDSN(getenv func(string) string) (string, error) {
	return resolveSecret("database.dsn", c.DSNEnv, c.DSNFile, getenv)
}

// ResolveValidateDSN reads the read-only DSN for validation queries from the
// environment variable or file c references, like ResolveDSN; it is an error
// when c references none (check HasValidateDSN first).
func (c DatabaseConn) ResolveValidateDSN(getenv func(string) string) (string, error) {
	return resolveSecret("database.validate_dsn", c.ValidateDSNEnv, c.ValidateDSNFile, getenv)
}

// resolveSecret reads one secret from exactly one of env and file. key is the
// secret's key without the _env/_file suffix, used in error messages.
func resolveSecret(key, env, file string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	short := key[strings.LastIndex(key, ".")+1:] // "dsn" in "database.dsn"
	switch {
	case env != "" && file != "":
		return "", fmt.Errorf("config: %s: both %s_env and %s_file are set, set exactly one", key, short, short)
	case env != "":
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return "", fmt.Errorf("config: %s_env: environment variable %s is empty or not set", key, env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			// *fs.PathError names the file and the cause, not the contents.
			return "", fmt.Errorf("config: %s_file: %w", key, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("config: %s_file: file %s is empty", key, file)
		}
		return v, nil
	default:
		return "", fmt.Errorf("config: %s: neither %s_env nor %s_file is set", key, short, short)
	}
}

// ResolvePasswords returns a lookup of the configured users' passwords, resolved now. The
// passwords stay in the caller's memory; errors name the key, never a value.
func (s Security) ResolvePasswords(getenv func(string) string) (func(user, host string) (string, bool), error) {
	resolved := map[[2]string]string{}
	for i, p := range s.Passwords {
		pw, err := resolveSecret(fmt.Sprintf("security.passwords[%d].password", i), p.PasswordEnv, p.PasswordFile, getenv)
		if err != nil {
			return nil, err
		}
		resolved[[2]string{p.User, p.hostOrAny()}] = pw
	}
	return func(user, host string) (string, bool) {
		pw, ok := resolved[[2]string{user, host}]
		return pw, ok
	}, nil
}

func (p UserPassword) hostOrAny() string {
	if p.Host == "" {
		return "%"
	}
	return p.Host
}
