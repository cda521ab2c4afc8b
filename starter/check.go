package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/internal/clients"
	"github.com/bottomless-dr/bottomless-dr/internal/temporalconn"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// checkResult is one line of `bdr config check`. Check is the configuration key that was
// checked, Target what was contacted; neither ever holds a secret.
type checkResult struct {
	Check  string `json:"check"`
	Target string `json:"target,omitempty"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration (bdr.yaml)",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	var timeout time.Duration
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and try every endpoint it names",
		Long: "check loads and validates the configuration, then checks each region's bucket\n" +
			"(exists, credentials accepted, conditional writes honoured: it writes and deletes\n" +
			"one small blob under .bdr/check/), the SQS queue of bucket notifications if one is\n" +
			"configured (exists, its attributes readable) and the Temporal frontend (reachable, healthy,\n" +
			"namespace exists, search attributes registered). It prints one line per check and\n" +
			"fails if any check failed.",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			results := a.checkAll(cmd.Context(), timeout)
			var err error
			if a.json {
				err = writeJSON(a.stdout, results, false)
			} else {
				err = writeChecks(a.stdout, results)
			}
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range results {
				if !r.OK {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("config check: %d of %d checks failed", failed, len(results))
			}
			return nil
		},
	}
	check.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "time allowed for each endpoint check")
	cmd.AddCommand(check)
	return cmd
}

// checkAll runs every check of `config check`, in a fixed order: the configuration (one
// result per invalid key when it does not load), then each region's bucket in name order,
// then the SQS queue of bucket notifications if any, then Temporal.
func (a *app) checkAll(ctx context.Context, timeout time.Duration) []checkResult {
	cfg, err := a.loadConfig()
	if err != nil {
		var out []checkResult
		for _, fe := range config.FieldErrors(err) {
			out = append(out, checkResult{Check: fe.Key, Target: a.configPath, Error: fe.Problem})
		}
		if len(out) == 0 {
			out = []checkResult{{Check: "config", Target: a.configPath, Error: err.Error()}}
		}
		return out
	}
	out := []checkResult{{Check: "config", Target: a.configPath, OK: true}}
	for _, name := range cfg.RegionNames() {
		out = append(out, checkStore(ctx, cfg, name, timeout))
	}
	if cfg.Replication.NotificationsSQS.Enabled() {
		out = append(out, checkSQS(ctx, cfg.Replication.NotificationsSQS, timeout))
	}
	return append(out, checkTemporal(ctx, cfg, timeout)...)
}

// checkSQS checks the queue of bucket notifications: it exists and the credentials may read
// its attributes (GetQueueAttributes, which changes nothing; the worker itself needs
// ReceiveMessage and DeleteMessage, which a check cannot try without taking messages).
func checkSQS(ctx context.Context, q config.SQS, timeout time.Duration) checkResult {
	const key = "replication.notifications_sqs"
	res := checkResult{Check: key, Target: "queue " + redactURL(q.QueueURL)}
	if q.Endpoint != "" {
		res.Target += " at " + redactURL(q.Endpoint)
	}
	c, err := clients.SQS(q)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := dialEndpoint(ctx, q.Endpoint); err != nil {
		res.Error = fmt.Sprintf("%s.endpoint: %v", key, err)
		return res
	}
	if _, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}}); err != nil {
		res.Error = fmt.Sprintf("%s.queue_url: %v", key, err)
		return res
	}
	res.OK = true
	return res
}

// redactURL returns u without any user info, which could hold a password.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.User = nil
	return p.String()
}

// checkStore checks one region's bucket. It builds the client from a copy of cfg that holds
// only that region, so a region whose credentials cannot be resolved fails alone.
func checkStore(ctx context.Context, cfg *config.Config, region string, timeout time.Duration) checkResult {
	store := cfg.Regions[region].ObjectStore
	res := checkResult{Check: "regions." + region + ".object_store", Target: storeTarget(store)}
	one := *cfg
	one.Regions = map[string]config.Region{region: cfg.Regions[region]}
	stores, err := clients.Stores(&one)
	if err != nil {
		res.Error = err.Error() // already names regions.<region>.object_store…
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := dialEndpoint(ctx, store.Endpoint); err != nil {
		res.Error = fmt.Sprintf("%s.endpoint: %v", res.Check, err)
		return res
	}
	if err := stores[region].Check(ctx); err != nil {
		res.Error = fmt.Sprintf("%s: %v", res.Check, err)
		return res
	}
	if err := stores[region].CheckConditionalWrites(ctx, conditionalProbeKey()); err != nil {
		res.Error = fmt.Sprintf("%s: %v", res.Check, err)
		return res
	}
	res.OK = true
	return res
}

// conditionalProbeKey is where config check probes a bucket's conditional writes: under
// .bdr/ (outside every database's root), named so that two checks at once never share it.
func conditionalProbeKey() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return replication.StateRoot + "/check/conditional-" + hex.EncodeToString(b[:])
}

// dialEndpoint opens and closes a TCP connection to an endpoint URL's host. The S3 client
// retries a refused connection until the deadline and then reports only the deadline, so
// this says "connection refused" (or "no such host") up front instead. An empty endpoint
// (AWS) is not dialed.
func dialEndpoint(ctx context.Context, endpoint string) error {
	if endpoint == "" {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("parse %q: %w", endpoint, err)
	}
	host := u.Host
	if u.Port() == "" {
		port := "443"
		if u.Scheme == "http" {
			port = "80"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return conn.Close()
}

// storeTarget names a bucket for humans: "bucket B at ENDPOINT". Any user info in the
// endpoint URL is redacted, since it could hold a password.
func storeTarget(s config.ObjectStore) string {
	endpoint := "AWS S3 (" + s.Region + ")"
	if s.Endpoint != "" {
		endpoint = s.Endpoint
		if u, err := url.Parse(s.Endpoint); err == nil {
			u.User = nil
			endpoint = u.String()
		}
	}
	return fmt.Sprintf("bucket %s at %s", s.Bucket, endpoint)
}

// checkTemporal dials the Temporal frontend and checks its health, then that the namespace
// exists and that the search attributes are registered (`bdr setup`). The later checks are
// skipped when Temporal cannot be reached: they would only repeat the same error.
func checkTemporal(ctx context.Context, cfg *config.Config, timeout time.Duration) []checkResult {
	t := cfg.Temporal
	health := checkResult{Check: "temporal.address", Target: t.Address}
	// The options the worker and bdr dial with: a TLS file or the API key that cannot be read
	// is reported under its own key, before any dial.
	opts, err := temporalconn.Options(t, client.Options{Logger: quietLogger()}, nil)
	if err != nil {
		res := checkResult{Check: "temporal", Target: t.Address, Error: err.Error()}
		var fe *config.FieldError
		if errors.As(err, &fe) {
			res.Check = fe.Key
		}
		return []checkResult{res}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		health.Error = fmt.Sprintf("temporal.address: dial %s: %v", t.Address, err)
		return []checkResult{health}
	}
	defer c.Close()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		health.Error = fmt.Sprintf("temporal.address: health check of %s: %v", t.Address, err)
		return []checkResult{health}
	}
	health.OK = true

	ns := checkResult{Check: "temporal.namespace", Target: t.Namespace}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: t.Namespace}); err != nil {
		ns.Error = fmt.Sprintf("temporal.namespace: %s: %v", t.Namespace, err)
		return []checkResult{health, ns}
	}
	ns.OK = true

	sa := checkResult{Check: "search attributes", Target: strings.Join(slices.Sorted(maps.Keys(clients.SearchAttributes)), ", ")}
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: t.Namespace})
	if err != nil {
		sa.Error = fmt.Sprintf("list search attributes of %s: %v", t.Namespace, err)
		return []checkResult{health, ns, sa}
	}
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(clients.SearchAttributes)) {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sa.Error = fmt.Sprintf("not registered in namespace %s: %s (run `bdr setup`)", t.Namespace, strings.Join(missing, ", "))
	} else {
		sa.OK = true
	}
	return []checkResult{health, ns, sa}
}

// writeChecks is the text output of config check: "OK" or "FAIL", the key, what was
// contacted, and the error of a failed check.
func writeChecks(w io.Writer, results []checkResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range results {
		verdict := "OK"
		if !r.OK {
			verdict = "FAIL"
		}
		line := verdict + "\t" + r.Check + "\t" + orDash(r.Target)
		if r.Error != "" {
			line += "\t" + oneLine(r.Error, 400)
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// setupResult is the --json output of setup.
type setupResult struct {
	Namespace        string   `json:"namespace"`
	SearchAttributes []string `json:"searchAttributes"`
}

func (a *app) setupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "setup",
		Short: "Register the search attributes BdrDatabase and BdrState (Keyword) in the namespace",
		Long:  "setup registers bottomless-dr's custom search attributes. It is idempotent.",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.dial(ctx, cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := clients.RegisterSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
				return err
			}
			res := setupResult{Namespace: cfg.Temporal.Namespace, SearchAttributes: slices.Sorted(maps.Keys(clients.SearchAttributes))}
			if a.json {
				return writeJSON(a.stdout, res, false)
			}
			_, err = fmt.Fprintf(a.stdout, "search attributes %s (Keyword) are registered in namespace %s\n",
				strings.Join(res.SearchAttributes, ", "), res.Namespace)
			return err
		},
	}
}
