package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	workflowpb "go.temporal.io/api/workflow/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

func TestCopyRate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	pa := func(elapsed time.Duration) *workflowpb.PendingActivityInfo {
		return &workflowpb.PendingActivityInfo{LastStartedTime: timestamppb.New(t0), LastHeartbeatTime: timestamppb.New(t0.Add(elapsed))}
	}
	assert.Equal(t, 2.0, copyRate(pa(10*time.Second), activities.SyncProgress{CopiedObjects: 20}))
	assert.Zero(t, copyRate(pa(2*time.Second), activities.SyncProgress{CopiedObjects: 20}), "too short to tell")
	assert.Zero(t, copyRate(pa(10*time.Second), activities.SyncProgress{}), "nothing copied yet: no rate, not a rate of 0")
	assert.Zero(t, copyRate(&workflowpb.PendingActivityInfo{}, activities.SyncProgress{CopiedObjects: 20}), "no heartbeat yet")
}

func TestInitialSyncETA(t *testing.T) {
	syncing := workflows.Status{InitialSync: workflows.InitialSync{Done: 40, Total: 100}}
	eta, ok := initialSyncETA(syncing, 2)
	require.True(t, ok)
	assert.Equal(t, 30.0, eta)
	_, ok = initialSyncETA(syncing, 0)
	assert.False(t, ok, "unknown rate: no estimate")
	syncing.InitialSync.Complete = true
	_, ok = initialSyncETA(syncing, 2)
	assert.False(t, ok, "initial sync over")
}

func TestAddRPONow(t *testing.T) {
	wm := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	rows := []statusRow{
		{Status: workflows.Status{Database: "a", From: "primary", To: "secondary", Watermark: workflows.Watermark{Time: wm}, LagSeconds: 1}},
		{Status: workflows.Status{Database: "b", From: "primary", To: "secondary", Watermark: workflows.Watermark{Time: wm.Add(-time.Minute)}}},
		{Status: workflows.Status{Database: "a", From: "secondary", To: "primary", Watermark: workflows.Watermark{Time: wm}}},
		{Status: workflows.Status{Database: "c", From: "primary", To: "secondary"}}, // no watermark yet
	}
	var calls atomic.Int32
	addRPONow(context.Background(), rows, func(_ context.Context, region string) (time.Time, error) {
		calls.Add(1)
		if region == "secondary" {
			return time.Time{}, errors.New("connection refused")
		}
		return wm.Add(90 * time.Second), nil
	})
	assert.Equal(t, int32(2), calls.Load(), "each source's clock is read once")
	require.NotNil(t, rows[0].RPONowSeconds)
	assert.Equal(t, 90.0, *rows[0].RPONowSeconds, "the source's clock now, not the last sync's")
	require.NotNil(t, rows[1].RPONowSeconds)
	assert.Equal(t, 150.0, *rows[1].RPONowSeconds)
	assert.Nil(t, rows[2].RPONowSeconds, "the source's clock did not answer: unknown")
	assert.Nil(t, rows[3].RPONowSeconds, "no watermark: unknown")
}

// drillStore is a bucket holding drill records: only List and GetBytes are used.
type drillStore struct {
	replication.Store
	objects map[string][]byte
	reads   []string
}

func (s *drillStore) List(_ context.Context, prefix string) (objectstore.Listing, error) {
	var l objectstore.Listing
	for k := range s.objects {
		if strings.HasPrefix(k, prefix) {
			l.Objects = append(l.Objects, objectstore.Object{Key: k})
		}
	}
	return l, nil
}

func (s *drillStore) GetBytes(_ context.Context, key string) ([]byte, error) {
	s.reads = append(s.reads, key)
	b, ok := s.objects[key]
	if !ok {
		return nil, os.ErrNotExist
	}
	return b, nil
}

func (s *drillStore) put(t *testing.T, r workflows.DrillResult) {
	b, err := json.Marshal(r)
	require.NoError(t, err)
	s.objects[replication.DrillKey(r.Database, r.ID)] = b
}

func TestNewestDrill(t *testing.T) {
	s := &drillStore{objects: map[string][]byte{}}
	none, err := newestDrill(context.Background(), s, "db")
	require.NoError(t, err)
	assert.Nil(t, none)

	for i, phase := range []string{workflows.DrillDone, workflows.DrillDone, workflows.DrillKept} {
		s.put(t, workflows.DrillResult{ID: "2026120700000" + string(rune('0'+i)), Database: "db", Phase: phase})
	}
	s.objects[replication.DrillPrefix("db")+"notes.txt"] = []byte("not a record")
	s.reads = nil
	last, err := newestDrill(context.Background(), s, "db")
	require.NoError(t, err)
	require.NotNil(t, last)
	assert.Equal(t, "20261207000001", last.ID, "the newest that has ended; the live one is skipped")
	assert.Len(t, s.reads, 2, "older records are not read")
}

func TestWriteLastDrills(t *testing.T) {
	d := sampleDrill()
	var buf bytes.Buffer
	require.NoError(t, writeLastDrills(&buf, []string{"bottomless_db", "orders"},
		map[string]*workflows.DrillResult{"bottomless_db": &d}, d.StartedAt.Add(2*time.Hour)))
	assert.Equal(t, "\n"+
		"last drill of bottomless_db: passed 2h ago, RPO 1.2s, attach 0.8s (in secondary)\n"+
		"last drill of orders: none\n", buf.String())
}
