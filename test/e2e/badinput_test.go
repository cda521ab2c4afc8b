package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestBadInput: a replication that can never work fails at once with an error naming the
// field, whether started from the temporal CLI or bdr, and writes nothing to any target.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	s := stack.New(t, stack.Options{Configure: func(c *config.Config) {
		fastConfig(c)
		sec := c.Regions["secondary"].ObjectStore
		nobucket := sec
		nobucket.Bucket = "no-such-bucket"
		c.Regions["nobucket"] = config.Region{ObjectStore: nobucket}
		badcreds := sec
		badcreds.AccessKeyIDEnv, badcreds.SecretAccessKeyEnv = "BADCREDS_KEY", "BADCREDS_SECRET"
		c.Regions["badcreds"] = config.Region{ObjectStore: badcreds}
	}})
	s.Env = append(s.Env, "BADCREDS_KEY=nobody", "BADCREDS_SECRET=wrong-secret-value")
	if err := s.StartWorker(ctx); err != nil {
		t.Fatal(err)
	}
	tc := temporalClient(t, s)
	dst := store(t, s.MinIO["secondary"])
	if err := putOne(ctx, s); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, database, from, to, want string
	}{
		{"unknown database", "nope", "primary", "secondary", `database: unknown database "nope"`},
		{"unknown region", db, "primary", "mars", `to: unknown region "mars"`},
		{"from equals to", db, "primary", "primary", `to: must differ from from`},
		{"missing bucket", db, "primary", "nobucket", `regions.nobucket.object_store.bucket`},
		{"wrong credentials", db, "primary", "badcreds", `regions.badcreds.object_store credentials`},
		{"missing field", "", "primary", "secondary", `database: required`},
	}
	for _, tc2 := range cases {
		t.Run(tc2.name, func(t *testing.T) {
			// As a Temporal UI or temporal CLI user would: the JSON of DESIGN 4.
			input := `{"database":"` + tc2.database + `","from":"` + tc2.from + `","to":"` + tc2.to + `"}`
			id := "bad/" + strings.ReplaceAll(tc2.name, " ", "-")
			out, err := s.Temporal.CLI(ctx, "workflow", "start", "--type", workflows.ReplicateName,
				"--task-queue", s.Config.Temporal.TaskQueue, "--workflow-id", id, "--input", input)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			err = tc.GetWorkflow(ctx, id, "").Get(ctx, nil)
			if err == nil || !strings.Contains(err.Error(), tc2.want) {
				t.Errorf("workflow error %v, want one containing %q", err, tc2.want)
			}
			var app interface{ Type() string }
			if err != nil && !errors.As(err, &app) {
				t.Errorf("error %v is not an application error", err)
			}
			assertNoSecrets(t, s, historyJSON(t, s, id), "history")
			if strings.Contains(err.Error(), "wrong-secret-value") {
				t.Error("the error shows the secret")
			}
		})
	}
	// bdr refuses the same input before starting anything.
	for _, args := range [][]string{
		{"replicate", "start", "nope"},
		{"replicate", "start", db, "--to", "mars"},
		{"replicate", "start", db, "--from", "primary", "--to", "primary"},
	} {
		if _, err := s.Bdr(ctx, args...); err == nil {
			t.Errorf("bdr %v succeeded", args)
		}
	}
	keys, err := listKeys(ctx, dst, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("bad input wrote to the target: %v", keys)
	}
	if _, err := tc.DescribeWorkflowExecution(ctx, workflows.ReplicateID("nope", "primary", "secondary"), ""); err == nil {
		t.Error("bdr started a workflow for an unknown database")
	}
}

// putOne writes one blob into the primary, so a replication that wrongly started would copy it.
func putOne(ctx context.Context, s *stack.Stack) error {
	_, err := s.MinIO["primary"].S3().PutObject(ctx, putInput(rootPath+"/0001/w00/00000000", []byte("one blob")))
	return err
}
