package temporalconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/bottomless-dr/bottomless-dr/config"
)

// pki is a throwaway certificate authority with a server and a client certificate, written
// as PEM files into a test's directory.
type pki struct {
	dir                    string
	caFile                 string
	serverCert, clientCert tls.Certificate
	clientCertFile         string
	clientKeyFile          string
	otherKeyFile           string // a valid key that is not the client certificate's
	pool                   *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), pool: x509.NewCertPool()}
	caKey := newKey(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bdr test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)

	issue := func(serial int64, name string, usage x509.ExtKeyUsage) (tls.Certificate, []byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: []string{name}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der, key
	}
	p.serverCert, _, _ = issue(2, "temporal.test", x509.ExtKeyUsageServerAuth)
	var clientDER []byte
	var clientKey *ecdsa.PrivateKey
	p.clientCert, clientDER, clientKey = issue(3, "bdr-worker", x509.ExtKeyUsageClientAuth)
	p.clientCertFile = p.write(t, "client.pem", "CERTIFICATE", clientDER)
	p.clientKeyFile = p.write(t, "client.key", "EC PRIVATE KEY", marshalKey(t, clientKey))
	p.otherKeyFile = p.write(t, "other.key", "EC PRIVATE KEY", marshalKey(t, newKey(t)))
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	return b
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return path
}

func (p *pki) tls() config.TemporalTLS {
	return config.TemporalTLS{CAFile: p.caFile, CertFile: p.clientCertFile, KeyFile: p.clientKeyFile, ServerName: "temporal.test"}
}

func noEnv(string) string { return "" }

// TestOptions: address and namespace from the configuration, TLS from the files it names
// (the CA as the only root, the client's certificate and key, the server name), the API key
// from the environment, and base's other fields kept. Without tls keys or an API key: no TLS,
// no credentials.
func TestOptions(t *testing.T) {
	p := newPKI(t)
	logger := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	tc := config.Temporal{Address: "temporal.test:7233", Namespace: "dr", TaskQueue: "q", TLS: p.tls(), APIKeyEnv: "BDR_TEST_API_KEY"}
	opts, err := Options(tc, client.Options{Logger: logger, Identity: "me"},
		func(k string) string { return map[string]string{"BDR_TEST_API_KEY": " key-123\n"}[k] })
	require.NoError(t, err)
	require.Equal(t, "temporal.test:7233", opts.HostPort)
	require.Equal(t, "dr", opts.Namespace)
	require.Equal(t, "me", opts.Identity)
	require.Same(t, logger, opts.Logger)
	c := opts.ConnectionOptions.TLS
	require.NotNil(t, c)
	require.True(t, c.RootCAs.Equal(p.pool), "the CA file is the only root")
	require.Len(t, c.Certificates, 1)
	require.Equal(t, p.clientCert.Certificate, c.Certificates[0].Certificate)
	require.Equal(t, "temporal.test", c.ServerName)
	require.False(t, c.InsecureSkipVerify)
	require.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)
	require.NotNil(t, opts.Credentials)

	// Only enabled: TLS with the system's roots and no client certificate.
	opts, err = Options(config.Temporal{Address: "a:1", Namespace: "n", TLS: config.TemporalTLS{Enabled: true}}, client.Options{}, noEnv)
	require.NoError(t, err)
	require.NotNil(t, opts.ConnectionOptions.TLS)
	require.Nil(t, opts.ConnectionOptions.TLS.RootCAs)
	require.Empty(t, opts.ConnectionOptions.TLS.Certificates)
	require.Nil(t, opts.Credentials)

	opts, err = Options(config.Temporal{Address: "a:1", Namespace: "n", TLS: config.TemporalTLS{InsecureSkipVerify: true}}, client.Options{}, noEnv)
	require.NoError(t, err)
	require.True(t, opts.ConnectionOptions.TLS.InsecureSkipVerify)

	opts, err = Options(config.Temporal{Address: "a:1", Namespace: "n"}, client.Options{}, noEnv)
	require.NoError(t, err)
	require.Nil(t, opts.ConnectionOptions.TLS, "plain connection when nothing asks for TLS")
	require.Nil(t, opts.Credentials)
}

// TestOptionsErrorsNameTheKey: every file or variable that cannot be used is reported as a
// *config.FieldError naming its key, without the contents of a file or the API key.
func TestOptionsErrorsNameTheKey(t *testing.T) {
	p := newPKI(t)
	notPEM := filepath.Join(p.dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello, not a certificate"), 0o600))
	missing := filepath.Join(p.dir, "missing.pem")
	with := func(mod func(*config.TemporalTLS)) config.Temporal {
		tt := p.tls()
		mod(&tt)
		return config.Temporal{Address: "a:1", Namespace: "n", TLS: tt}
	}
	cases := []struct {
		name string
		t    config.Temporal
		key  string
		want string
	}{
		{"ca file missing", with(func(x *config.TemporalTLS) { x.CAFile = missing }), "temporal.tls.ca_file", "no such file or directory"},
		{"ca file not PEM", with(func(x *config.TemporalTLS) { x.CAFile = notPEM }), "temporal.tls.ca_file", "holds no PEM certificate"},
		{"cert file missing", with(func(x *config.TemporalTLS) { x.CertFile = missing }), "temporal.tls.cert_file", "no such file or directory"},
		{"cert file holds a key", with(func(x *config.TemporalTLS) { x.CertFile = p.clientKeyFile }), "temporal.tls.cert_file", "holds no PEM certificate"},
		{"key file missing", with(func(x *config.TemporalTLS) { x.KeyFile = missing }), "temporal.tls.key_file", "no such file or directory"},
		{"key file not PEM", with(func(x *config.TemporalTLS) { x.KeyFile = notPEM }), "temporal.tls.key_file", "with cert_file"},
		{"key of another certificate", with(func(x *config.TemporalTLS) { x.KeyFile = p.otherKeyFile }), "temporal.tls.key_file", "private key does not match public key"},
		{"cert without key", with(func(x *config.TemporalTLS) { x.KeyFile = "" }), "temporal.tls.key_file", "required with cert_file"},
		{"api key unset", config.Temporal{Address: "a:1", Namespace: "n", APIKeyEnv: "BDR_TEST_UNSET_KEY"}, "temporal.api_key_env", "environment variable BDR_TEST_UNSET_KEY is empty or not set"},
	}
	for _, c := range cases {
		_, err := Options(c.t, client.Options{}, noEnv)
		require.Error(t, err, c.name)
		var fe *config.FieldError
		require.ErrorAs(t, err, &fe, c.name)
		require.Equal(t, c.key, fe.Key, c.name)
		require.Contains(t, err.Error(), c.key+": ", c.name)
		require.Contains(t, err.Error(), c.want, c.name)
		require.NotContains(t, err.Error(), "PRIVATE KEY", c.name)
		require.NotContains(t, err.Error(), "hello, not", c.name)
	}
}

// workflowService answers GetSystemInfo, the call a Temporal client makes when it dials, and
// keeps the authorization header it came with.
type workflowService struct {
	workflowservice.UnimplementedWorkflowServiceServer
	mu            sync.Mutex
	authorization []string
}

func (s *workflowService) GetSystemInfo(ctx context.Context, _ *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorization = append(s.authorization, md.Get("authorization")...)
	return &workflowservice.GetSystemInfoResponse{Capabilities: &workflowservice.GetSystemInfoResponse_Capabilities{}}, nil
}

// TestDialWithMutualTLSAndAPIKey: a client built from Options dials a gRPC server that
// requires a client certificate signed by the CA and serves the certificate of the configured
// server name; the server sees the API key as a bearer token. Without the client certificate
// the same server refuses the dial.
func TestDialWithMutualTLSAndAPIKey(t *testing.T) {
	p := newPKI(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{p.serverCert}, ClientCAs: p.pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})))
	svc := &workflowService{}
	workflowservice.RegisterWorkflowServiceServer(srv, svc)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	quiet := client.Options{Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))}
	tc := config.Temporal{Address: lis.Addr().String(), Namespace: "default", TLS: p.tls(), APIKeyEnv: "BDR_TEST_API_KEY"}
	opts, err := Options(tc, quiet, func(k string) string { return map[string]string{"BDR_TEST_API_KEY": "key-123"}[k] })
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	require.NoError(t, err)
	c.Close()
	svc.mu.Lock()
	require.Contains(t, svc.authorization, "Bearer key-123")
	svc.mu.Unlock()

	// The server really demands the client certificate.
	tc.TLS.CertFile, tc.TLS.KeyFile = "", ""
	opts, err = Options(tc, quiet, func(string) string { return "key-123" })
	require.NoError(t, err)
	opts.ConnectionOptions.GetSystemInfoTimeout = 5 * time.Second
	_, err = client.DialContext(ctx, opts)
	require.Error(t, err)
}
