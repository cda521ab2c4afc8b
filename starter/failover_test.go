package main

import (
	"strings"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/workflows"
)

func TestFailoverFlags(t *testing.T) {
	r := routeArgs{db: "db", from: "primary", to: "secondary"}
	for _, tc := range []struct {
		f       failoverFlags
		want    *workflows.FailoverAt
		wantErr string
	}{
		{f: failoverFlags{mode: "planned"}},
		{f: failoverFlags{mode: "unplanned", milestone: "nightly"}, want: &workflows.FailoverAt{Milestone: "nightly"}},
		{f: failoverFlags{mode: "unplanned", time: "2026-11-23 10:11:12"}, want: &workflows.FailoverAt{Time: time.Date(2026, 11, 23, 10, 11, 12, 0, time.UTC)}},
		{f: failoverFlags{mode: "unplanned", time: "2026-11-23T11:11:12+01:00"}, want: &workflows.FailoverAt{Time: time.Date(2026, 11, 23, 10, 11, 12, 0, time.UTC)}},
		{f: failoverFlags{mode: "sideways"}, wantErr: `--mode: must be "planned" or "unplanned", got "sideways"`},
		{f: failoverFlags{mode: "planned", milestone: "m"}, wantErr: "--at-milestone/--at-time: only with --mode unplanned"},
		{f: failoverFlags{mode: "unplanned", milestone: "m", time: "2026-11-23 10:11:12"}, wantErr: "exclusive"},
		{f: failoverFlags{mode: "unplanned", time: "yesterday"}, wantErr: `--at-time: want 'YYYY-MM-DD HH:MM:SS' (UTC) or RFC 3339, got "yesterday"`},
	} {
		in, err := tc.f.input(r)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: error %v, want %q", tc.f, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tc.f, err)
			continue
		}
		if (in.At == nil) != (tc.want == nil) || in.At != nil && (in.At.Milestone != tc.want.Milestone || !in.At.Time.Equal(tc.want.Time)) {
			t.Errorf("%+v: at %+v, want %+v", tc.f, in.At, tc.want)
		}
	}
}

// TestWriteUnplannedFailoverRPO: an RPO known exactly is one figure; without the failed
// region's bucket it is shown as the bound it is, with the lower bound beside it.
func TestWriteUnplannedFailoverRPO(t *testing.T) {
	res := workflows.FailoverResult{Database: "db", From: "primary", To: "secondary", NewPrimary: "secondary",
		Mode: workflows.ModeUnplanned, AttachedAt: "latest", RPOSeconds: 1.43, RPOMinSeconds: 1.01, RTOSeconds: 6.2}
	var b strings.Builder
	if err := writeFailover(&b, res); err != nil {
		t.Fatal(err)
	}
	if want := "RPO at most 1.4s (at least 1.0s; primary's bucket did not answer)"; !strings.Contains(b.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, b.String())
	}
	res.RPOMinSeconds, res.Unreplicated = 0, &workflows.Tail{Objects: 3, Bytes: 300}
	b.Reset()
	if err := writeFailover(&b, res); err != nil {
		t.Fatal(err)
	}
	if want := "RPO 1.4s: newest write known"; !strings.Contains(b.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, b.String())
	}
}
