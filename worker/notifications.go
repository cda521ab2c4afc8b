package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	otelmetric "go.opentelemetry.io/otel/metric"
)

// maxNotificationBody bounds the body of one POST to /notifications.
const maxNotificationBody = 1 << 20

// notificationsPath is where bucket notifications are posted.
const notificationsPath = "/notifications"

// publisher takes a hint: activities.Hints.
type publisher interface{ Publish(bucket, key string) }

// notificationCounter counts what the handler received: metrics.
type notificationCounter interface {
	NotificationsReceived(ctx context.Context, records int)
}

// s3Event is the part of an S3/MinIO event notification the handler reads. Keys are
// URL-encoded (as in S3's and MinIO's events).
type s3Event struct {
	Records []struct {
		EventName string       `json:"eventName"`
		S3        bucketObject `json:"s3"`
	} `json:"Records"`
}

// bucketObject names a blob as S3 events (their "s3") and EventBridge events (their
// "detail") both do.
type bucketObject struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key string `json:"key"`
	} `json:"object"`
}

// hint is a key that may be new in a bucket.
type hint struct{ bucket, key string }

// parseS3Event returns the bucket and key of every ObjectCreated record of an S3/MinIO event
// notification (body), keys URL-decoded. A record of another event, or whose key does not
// decode, or without a bucket or key, is skipped: a hint lost costs only speed. It is an error
// only when body is not a JSON object; S3's s3:TestEvent has no records and gives none.
func parseS3Event(body []byte) ([]hint, error) {
	var ev s3Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, err
	}
	var hints []hint
	for _, rec := range ev.Records {
		// "s3:ObjectCreated:Put" (MinIO) or "ObjectCreated:Put" (S3).
		if !strings.HasPrefix(strings.TrimPrefix(rec.EventName, "s3:"), "ObjectCreated:") {
			continue
		}
		key, err := url.QueryUnescape(rec.S3.Object.Key)
		if err != nil || rec.S3.Bucket.Name == "" || key == "" {
			continue
		}
		hints = append(hints, hint{rec.S3.Bucket.Name, key})
	}
	return hints, nil
}

// notificationsHandler takes S3/MinIO bucket event notifications (a MinIO webhook target's
// POSTs) and publishes the key of every ObjectCreated record to hints. It answers at once:
// publishing never blocks, and a hint lost changes only speed. With a token, a POST must carry
// "Authorization: Bearer <token>". It logs no header and no body.
type notificationsHandler struct {
	hints   publisher
	token   string // empty: none asked
	counter notificationCounter
}

func (h *notificationsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST bucket event notifications here", http.StatusMethodNotAllowed)
		return
	}
	if h.token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.token)) != 1 {
			http.Error(w, "a bearer token is required", http.StatusUnauthorized)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotificationBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("body over %d bytes", maxNotificationBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	hints, err := parseS3Event(body)
	if err != nil {
		http.Error(w, "not an S3 event notification (JSON)", http.StatusBadRequest)
		return
	}
	for _, hint := range hints {
		h.hints.Publish(hint.bucket, hint.key)
	}
	published := len(hints)
	if h.counter != nil && published > 0 {
		h.counter.NotificationsReceived(r.Context(), published)
	}
	w.WriteHeader(http.StatusOK)
}

// serveNotifications serves notificationsPath on addr until the returned function is called.
func serveNotifications(addr string, h http.Handler, log *slog.Logger) (func(), error) {
	return serveHTTP("replication.notifications_listen", addr, notificationsPath, h, log)
}

// NotificationsReceived counts the ObjectCreated records taken from bucket notifications.
func (m *metrics) NotificationsReceived(ctx context.Context, records int) {
	m.notifications.Add(ctx, int64(records))
}

var _ notificationCounter = (*metrics)(nil)

// notificationsCounter builds the counter of NotificationsReceived.
func notificationsCounter(meter otelmetric.Meter) (otelmetric.Int64Counter, error) {
	return meter.Int64Counter("bdr_notifications_received", otelmetric.WithDescription("ObjectCreated records taken from bucket notifications, each a hint to copy that blob early"))
}
