package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	otelmetric "go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// unknownLabel is the value of a database, region or mode label whose name is not configured
// (not a known mode): names come from workflow inputs, which anyone who can start a workflow
// writes, and every distinct label value is a new time series kept for the process's life.
const unknownLabel = "unknown"

// labels turns names from workflow inputs into label values: a configured database or
// region keeps its name, anything else is unknownLabel. It is read-only once built.
type labels struct{ databases, regions map[string]bool }

func newLabels(cfg *config.Config) labels {
	l := labels{databases: map[string]bool{}, regions: map[string]bool{}}
	for _, d := range cfg.Databases {
		l.databases[d.Name] = true
	}
	for name := range cfg.Regions {
		l.regions[name] = true
	}
	return l
}

func (l labels) database(name string) string { return known(l.databases, name) }
func (l labels) region(name string) string   { return known(l.regions, name) }

func (labels) mode(mode string) string {
	if mode == workflows.ModePlanned || mode == workflows.ModeUnplanned {
		return mode
	}
	return unknownLabel
}

func known(names map[string]bool, name string) string {
	if names[name] {
		return name
	}
	return unknownLabel
}

// metrics records replication state through OpenTelemetry and exposes it for Prometheus.
// Label values are configured names only (labels).
type metrics struct {
	labels         labels
	handler        http.Handler
	lag            otelmetric.Float64Gauge
	pendingObjects otelmetric.Int64Gauge
	pendingBytes   otelmetric.Int64Gauge
	copiedObjects  otelmetric.Int64Counter
	copiedBytes    otelmetric.Int64Counter
	watermark      otelmetric.Float64Gauge
	failoverRTO    otelmetric.Float64Gauge
	failoverRPO    otelmetric.Float64Gauge
	failovers      otelmetric.Int64Counter
	lateObjects    otelmetric.Int64Counter
	heldUploadAge  otelmetric.Float64Gauge
	drillSuccess   otelmetric.Float64Gauge
	drillRPO       otelmetric.Float64Gauge
	drillAttach    otelmetric.Float64Gauge
	drillFailures  otelmetric.Int64Counter
	vanished       otelmetric.Int64Counter
	deletesPending otelmetric.Int64Gauge
	deletesHeld    otelmetric.Int64Gauge
	deleted        otelmetric.Int64Counter
	notifications  otelmetric.Int64Counter
	// notificationsIgnored counts SQS messages that were not notifications (sqs.go).
	notificationsIgnored otelmetric.Int64Counter
}

var (
	_ activities.SyncRecorder     = (*metrics)(nil)
	_ activities.FailoverRecorder = (*metrics)(nil)
	_ activities.DrillRecorder    = (*metrics)(nil)
)

// newMetrics builds the worker's metrics; cfg's databases and regions are the label values
// they may carry.
func newMetrics(service string, cfg *config.Config) (*metrics, error) {
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)).Meter(service)
	m := &metrics{labels: newLabels(cfg), handler: promhttp.HandlerFor(registry, promhttp.HandlerOpts{})}
	var errs [21]error
	m.lag, errs[0] = meter.Float64Gauge("bdr_replication_lag_seconds", otelmetric.WithDescription("source clock minus the watermark at the last sync: the RPO a failover would have now"), otelmetric.WithUnit("s"))
	m.pendingObjects, errs[1] = meter.Int64Gauge("bdr_replication_pending_objects", otelmetric.WithDescription("source blobs newer than the watermark"))
	m.pendingBytes, errs[2] = meter.Int64Gauge("bdr_replication_pending_bytes", otelmetric.WithDescription("bytes of source blobs newer than the watermark"), otelmetric.WithUnit("By"))
	m.copiedObjects, errs[3] = meter.Int64Counter("bdr_replication_copied_objects", otelmetric.WithDescription("blobs copied to the target"))
	m.copiedBytes, errs[4] = meter.Int64Counter("bdr_replication_copied_bytes", otelmetric.WithDescription("bytes copied to the target"), otelmetric.WithUnit("By"))
	m.watermark, errs[5] = meter.Float64Gauge("bdr_replication_watermark_timestamp_seconds", otelmetric.WithDescription("the watermark as a Unix time"), otelmetric.WithUnit("s"))
	m.failoverRTO, errs[6] = meter.Float64Gauge("bdr_failover_rto_seconds", otelmetric.WithDescription("the last failover's recovery time: from its start (unplanned) or the detach (planned) to the verified attach"), otelmetric.WithUnit("s"))
	m.failoverRPO, errs[7] = meter.Float64Gauge("bdr_failover_rpo_seconds", otelmetric.WithDescription("the last failover's data loss: newest source write known minus the point attached"), otelmetric.WithUnit("s"))
	m.failovers, errs[8] = meter.Int64Counter("bdr_failovers", otelmetric.WithDescription("failovers run, by mode and outcome"))
	m.lateObjects, errs[9] = meter.Int64Counter("bdr_replication_late_objects", otelmetric.WithDescription("source blobs that showed up at or before a watermark already past them (an anti-entropy pass copies them)"))
	m.heldUploadAge, errs[10] = meter.Float64Gauge("bdr_replication_held_upload_age_seconds", otelmetric.WithDescription("age of the multipart upload holding the watermark back, 0 when none does (an abandoned one holds it forever)"), otelmetric.WithUnit("s"))
	m.drillSuccess, errs[11] = meter.Float64Gauge("bdr_drill_last_success_timestamp_seconds", otelmetric.WithDescription("when the last drill that passed ended, as a Unix time"), otelmetric.WithUnit("s"))
	m.drillRPO, errs[12] = meter.Float64Gauge("bdr_drill_rpo_seconds", otelmetric.WithDescription("the last drill's would-be RPO: newest source write known minus the replica's watermark"), otelmetric.WithUnit("s"))
	m.drillAttach, errs[13] = meter.Float64Gauge("bdr_drill_attach_seconds", otelmetric.WithDescription("what the last drill's ATTACH of its branch took: what a failover's ATTACH would cost"), otelmetric.WithUnit("s"))
	m.drillFailures, errs[14] = meter.Int64Counter("bdr_drill_failures", otelmetric.WithDescription("drills that failed"))
	m.vanished, errs[15] = meter.Int64Counter("bdr_replication_vanished_objects", otelmetric.WithDescription("listed source blobs deleted or overwritten before their copy (garbage collection): skipped, not failed"))
	m.deletesPending, errs[16] = meter.Int64Gauge("bdr_replication_deletes_pending_objects", otelmetric.WithDescription("target blobs the source no longer holds: waiting for replication.delete_delay, or kept with delete_delay: never"))
	m.deletesHeld, errs[17] = meter.Int64Gauge("bdr_replication_deletes_held_objects", otelmetric.WithDescription("target blobs past their delete delay kept because a recorded milestone may need them"))
	m.deleted, errs[18] = meter.Int64Counter("bdr_replication_deleted_objects", otelmetric.WithDescription("target blobs deleted after the source deleted them and delete_delay passed"))
	m.notifications, errs[19] = notificationsCounter(meter)
	m.notificationsIgnored, errs[20] = notificationsIgnoredCounter(meter)
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// RecordSync records the state after one sync.
func (m *metrics) RecordSync(ctx context.Context, database, from, to string, res activities.SyncResult) {
	attrs := m.replicationAttrs(database, from, to)
	m.lag.Record(ctx, max(0, res.StoreTime.Sub(res.Watermark.Time).Seconds()), attrs)
	m.pendingObjects.Record(ctx, res.PendingObjects, attrs)
	m.pendingBytes.Record(ctx, res.PendingBytes, attrs)
	m.watermark.Record(ctx, float64(res.Watermark.Time.UnixNano())/1e9, attrs)
	m.lateObjects.Add(ctx, res.LateObjects, attrs)
	m.vanished.Add(ctx, res.VanishedObjects, attrs)
	held := 0.0
	if !res.HeldSince.IsZero() {
		held = max(0, res.StoreTime.Sub(res.HeldSince).Seconds())
	}
	m.heldUploadAge.Record(ctx, held, attrs)
}

// RecordCopied counts copies as a sync makes them.
func (m *metrics) RecordCopied(ctx context.Context, database, from, to string, objects, bytes int64) {
	attrs := m.replicationAttrs(database, from, to)
	m.copiedObjects.Add(ctx, objects, attrs)
	m.copiedBytes.Add(ctx, bytes, attrs)
}

// RecordDeletes records what an anti-entropy pass did about the source's deletes.
func (m *metrics) RecordDeletes(ctx context.Context, database, from, to string, report replication.DeleteReport) {
	attrs := m.replicationAttrs(database, from, to)
	m.deletesPending.Record(ctx, int64(report.Pending+report.Kept), attrs)
	m.deletesHeld.Record(ctx, int64(report.Held), attrs)
	m.deleted.Add(ctx, int64(report.Deleted), attrs)
}

// replicationAttrs name one replication: a database and its direction.
func (m *metrics) replicationAttrs(database, from, to string) otelmetric.MeasurementOption {
	return otelmetric.WithAttributes(attribute.String("database", m.labels.database(database)),
		attribute.String("from", m.labels.region(from)), attribute.String("to", m.labels.region(to)))
}

// RecordFailover records a failover's measured RPO and RTO (successful ones) and counts it.
func (m *metrics) RecordFailover(ctx context.Context, out activities.FailoverOutcome) {
	database, mode := m.labels.database(out.Database), m.labels.mode(out.Mode)
	attrs := otelmetric.WithAttributes(attribute.String("database", database), attribute.String("from", m.labels.region(out.From)),
		attribute.String("to", m.labels.region(out.To)), attribute.String("mode", mode))
	if out.Succeeded {
		m.failoverRTO.Record(ctx, out.RTOSeconds, attrs)
		m.failoverRPO.Record(ctx, out.RPOSeconds, attrs)
	}
	m.failovers.Add(ctx, 1, otelmetric.WithAttributes(attribute.String("database", database),
		attribute.String("mode", mode), attribute.Bool("succeeded", out.Succeeded)))
}

// RecordDrill records a drill: the time, RPO and attach time of one that passed, and counts
// one that failed.
func (m *metrics) RecordDrill(ctx context.Context, out activities.DrillOutcome) {
	attrs := otelmetric.WithAttributes(attribute.String("database", m.labels.database(out.Database)), attribute.String("to", m.labels.region(out.To)))
	if !out.Passed {
		m.drillFailures.Add(ctx, 1, attrs)
		return
	}
	m.drillSuccess.Record(ctx, float64(out.FinishedAt.UnixNano())/1e9, attrs)
	m.drillAttach.Record(ctx, out.AttachSeconds, attrs)
	if out.RPOKnown {
		m.drillRPO.Record(ctx, out.RPOSeconds, attrs)
	}
}
