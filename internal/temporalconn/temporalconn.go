// Package temporalconn builds the Temporal client's options from bdr.yaml's temporal section:
// address, namespace, TLS (files read here) and API key (read from the environment here). The
// worker and bdr both dial with what Options returns, so they connect alike. It lives outside
// config because config must not import Temporal.
package temporalconn

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
)

// Options returns base with HostPort and Namespace from t, ConnectionOptions.TLS built from
// t.TLS (nil when it is not Active) and, when t.APIKeyEnv is set, Credentials holding the API
// key read from that variable through getenv (nil: os.Getenv). base's other fields (Logger,
// Interceptors, …) are kept. Each error is a *config.FieldError naming the key at fault
// ("temporal.tls.cert_file: …"); none holds a key's or a file's contents. It reads files
// and the environment but contacts nothing.
func Options(t config.Temporal, base client.Options, getenv func(string) string) (client.Options, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	opts := base
	opts.HostPort, opts.Namespace = t.Address, t.Namespace
	tlsConfig, err := TLSConfig(t.TLS)
	if err != nil {
		return client.Options{}, err
	}
	opts.ConnectionOptions.TLS = tlsConfig
	if t.APIKeyEnv != "" {
		key := strings.TrimSpace(getenv(t.APIKeyEnv))
		if key == "" {
			return client.Options{}, fieldError("temporal.api_key_env", "environment variable %s is empty or not set", t.APIKeyEnv)
		}
		// The SDK sends it as "Authorization: Bearer <key>" and turns TLS on when
		// ConnectionOptions.TLS is nil (Temporal Cloud with the system's roots).
		opts.Credentials = client.NewAPIKeyStaticCredentials(key)
	}
	return opts, nil
}

// TLSConfig returns the TLS configuration t describes, or nil when t is not Active. The
// minimum version is TLS 1.2. Errors name the key of the file at fault.
func TLSConfig(t config.TemporalTLS) (*tls.Config, error) {
	if !t.Active() {
		return nil, nil
	}
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: t.ServerName,
		// Only when the operator asks for it (a test server with a throwaway certificate).
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
	if t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fieldError("temporal.tls.ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fieldError("temporal.tls.ca_file", "%s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return c, nil
	case t.KeyFile == "":
		return nil, fieldError("temporal.tls.key_file", "required with cert_file")
	case t.CertFile == "":
		return nil, fieldError("temporal.tls.cert_file", "required with key_file")
	}
	certPEM, err := os.ReadFile(t.CertFile)
	if err != nil {
		return nil, fieldError("temporal.tls.cert_file", "%v", err)
	}
	if !holdsPEM(certPEM, "CERTIFICATE") {
		return nil, fieldError("temporal.tls.cert_file", "%s holds no PEM certificate", t.CertFile)
	}
	keyPEM, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return nil, fieldError("temporal.tls.key_file", "%v", err)
	}
	// The certificate parsed above, so what fails now is the key: absent, malformed or not
	// the certificate's. tls's message quotes neither file.
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fieldError("temporal.tls.key_file", "%s with cert_file %s: %v", t.KeyFile, t.CertFile, err)
	}
	c.Certificates = []tls.Certificate{cert}
	return c, nil
}

// holdsPEM reports whether b has a PEM block of the given type.
func holdsPEM(b []byte, typ string) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if block.Type == typ {
			return true
		}
	}
}

func fieldError(key, format string, args ...any) error {
	return &config.FieldError{Key: key, Problem: fmt.Sprintf(format, args...)}
}
