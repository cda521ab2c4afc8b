package main

// Bucket notifications through Amazon SQS. AWS S3 cannot post a webhook (notifications.go):
// it sends its event notifications to an SQS queue, directly or through an EventBridge rule
// whose target is the queue. sqsReader reads that queue and publishes the same hints as the
// webhook. Hints are best-effort (a hint lost, late, repeated or wrong changes nothing but
// speed, DESIGN 5a.6), so every message received is deleted once read, whether it named new
// blobs, named none or was not a notification at all: nothing is retried, nothing piles up.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	otelmetric "go.opentelemetry.io/otel/metric"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/internal/clients"
)

// Long polling: one ReceiveMessage waits up to sqsWait for a message and takes up to
// sqsBatch (both SQS's maximums), so an idle worker sends three requests a minute.
const (
	sqsWait  = 20 * time.Second
	sqsBatch = 10
)

// sqsMargin bounds a DeleteMessageBatch, and a ReceiveMessage beyond its wait.
const sqsMargin = 10 * time.Second

// Backoff after an SQS error: sqsMinBackoff doubling up to sqsMaxBackoff, reset by a success.
const (
	sqsMinBackoff = time.Second
	sqsMaxBackoff = 30 * time.Second
)

// sqsAPI is the part of *sqs.Client the reader uses.
type sqsAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

var _ sqsAPI = (*sqs.Client)(nil)

// sqsCounter counts what the reader took: metrics.
type sqsCounter interface {
	notificationCounter
	// NotificationsIgnored counts messages that were not bucket event notifications.
	NotificationsIgnored(ctx context.Context, messages int)
}

// sqsReader reads S3 event notifications from an SQS queue and publishes each created blob
// to hints. Run it once per queue; it is not safe for concurrent use. It logs no message
// body and no credential.
type sqsReader struct {
	client   sqsAPI
	queueURL string
	hints    publisher
	counter  sqsCounter
	log      *slog.Logger
	// wait and the backoff bounds; zero: sqsWait, sqsMinBackoff, sqsMaxBackoff (tests shorten them).
	wait, minBackoff, maxBackoff time.Duration
}

// newSQSReader builds a reader of q with its credentials, resolved now.
func newSQSReader(q config.SQS, hints publisher, counter sqsCounter, log *slog.Logger) (*sqsReader, error) {
	client, err := clients.SQS(q)
	if err != nil {
		return nil, err
	}
	return &sqsReader{client: client, queueURL: q.QueueURL, hints: hints, counter: counter, log: log}, nil
}

// run reads the queue until ctx ends. An SQS error is logged and retried after a backoff
// (bounded); run returns only when ctx ends.
func (r *sqsReader) run(ctx context.Context) {
	minB, maxB := cmp.Or(r.minBackoff, sqsMinBackoff), cmp.Or(r.maxBackoff, sqsMaxBackoff)
	backoff := minB
	for ctx.Err() == nil {
		err := r.poll(ctx)
		if err == nil {
			backoff = minB
			continue
		}
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("sqs notifications: retrying", "queue", r.queueURL, "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxB)
	}
}

// poll receives one batch of messages (waiting for one up to the long-poll time), publishes
// their hints and deletes them.
func (r *sqsReader) poll(ctx context.Context) error {
	wait := cmp.Or(r.wait, sqsWait)
	// The SDK's HTTP client has no overall timeout: a connection that hangs would stop the
	// hints for good. A receive answers within its wait; past that plus a margin it is retried.
	rctx, cancel := context.WithTimeout(ctx, wait+sqsMargin)
	defer cancel()
	out, err := r.client.ReceiveMessage(rctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(r.queueURL),
		MaxNumberOfMessages: sqsBatch,
		WaitTimeSeconds:     int32(wait / time.Second),
	})
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	if len(out.Messages) == 0 {
		return nil
	}
	published, ignored := 0, 0
	entries := make([]sqstypes.DeleteMessageBatchRequestEntry, 0, len(out.Messages))
	for i, m := range out.Messages {
		hints, ok := parseSQSMessage([]byte(aws.ToString(m.Body)))
		if !ok {
			ignored++
			r.log.Info("sqs notifications: ignored a message that is not a bucket event notification", "queue", r.queueURL, "message_id", aws.ToString(m.MessageId))
		}
		for _, h := range hints {
			r.hints.Publish(h.bucket, h.key)
		}
		published += len(hints)
		entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
	}
	if r.counter != nil {
		if published > 0 {
			r.counter.NotificationsReceived(ctx, published)
		}
		if ignored > 0 {
			r.counter.NotificationsIgnored(ctx, ignored)
		}
	}
	// The hints are out: delete the messages even if the worker is stopping, or they come
	// back after their visibility timeout (harmless, repeated hints, but useless).
	dctx, cancelDelete := context.WithTimeout(context.WithoutCancel(ctx), sqsMargin)
	defer cancelDelete()
	del, err := r.client.DeleteMessageBatch(dctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.queueURL), Entries: entries})
	if err != nil {
		return fmt.Errorf("delete %d messages: %w", len(entries), err)
	}
	if len(del.Failed) > 0 {
		// They come back after their visibility timeout: repeated hints, which change nothing.
		f := del.Failed[0]
		r.log.Warn("sqs notifications: messages not deleted", "queue", r.queueURL, "failed", len(del.Failed),
			"code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
	}
	return nil
}

// sqsBody holds the shapes of a message that the reader tells apart: an S3 event
// notification (Records, or S3's s3:TestEvent), an EventBridge event (detail-type, detail)
// and an SNS notification wrapping one of those (Type, Message: S3 → SNS → SQS without raw
// delivery).
type sqsBody struct {
	Records    json.RawMessage `json:"Records"`
	Event      string          `json:"Event"`
	DetailType string          `json:"detail-type"`
	Detail     bucketObject    `json:"detail"`
	Type       string          `json:"Type"`
	Message    string          `json:"Message"`
}

// parseSQSMessage returns the blobs created that an SQS message's body names, and whether it
// is a bucket event notification at all:
//   - an S3 event notification (Records[].s3.bucket.name, .object.key URL-encoded), read by
//     the webhook's parseS3Event: every ObjectCreated record;
//   - S3's s3:TestEvent, sent when a bucket's notification is configured: none;
//   - an EventBridge event of S3: detail-type "Object Created" names detail.bucket.name and
//     detail.object.key; other detail-types, none. AWS's documentation does not say whether
//     EventBridge URL-encodes keys as S3's own events do: a key that decodes to another key
//     is published both ways (a hint for a blob that does not exist costs one HEAD);
//   - either of those inside an SNS notification (Type "Notification", Message).
//
// Anything else (not JSON, another JSON document) is not a notification: nil, false.
func parseSQSMessage(body []byte) ([]hint, bool) {
	var b sqsBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, false
	}
	switch {
	case b.Type == "Notification" && b.Message != "":
		return parseSQSMessage([]byte(b.Message))
	case b.Event == "s3:TestEvent":
		return nil, true
	case b.Records != nil:
		hints, err := parseS3Event(body)
		return hints, err == nil
	case b.DetailType != "":
		if b.DetailType != "Object Created" || b.Detail.Bucket.Name == "" || b.Detail.Object.Key == "" {
			return nil, true
		}
		key := b.Detail.Object.Key
		hints := []hint{{b.Detail.Bucket.Name, key}}
		if decoded, err := url.QueryUnescape(key); err == nil && decoded != key && decoded != "" {
			hints = append(hints, hint{b.Detail.Bucket.Name, decoded})
		}
		return hints, true
	}
	return nil, false
}

// NotificationsIgnored counts the SQS messages that were not bucket event notifications.
func (m *metrics) NotificationsIgnored(ctx context.Context, messages int) {
	m.notificationsIgnored.Add(ctx, int64(messages))
}

var _ sqsCounter = (*metrics)(nil)

// notificationsIgnoredCounter builds the counter of NotificationsIgnored.
func notificationsIgnoredCounter(meter otelmetric.Meter) (otelmetric.Int64Counter, error) {
	return meter.Int64Counter("bdr_notifications_ignored", otelmetric.WithDescription("messages taken from the SQS queue of bucket notifications that were not bucket event notifications: deleted, no hint"))
}
