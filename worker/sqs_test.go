package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

// awsS3Event is an S3 event notification as AWS S3 sends it to SQS (one record per key; keys
// URL-encoded by the caller).
func awsS3Event(eventName, bucket string, keys ...string) string {
	var recs []string
	for _, k := range keys {
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-01-01T00:00:00.000Z",
"eventName":%q,"userIdentity":{"principalId":"AWS:AIDAEXAMPLE"},"requestParameters":{"sourceIPAddress":"10.0.0.1"},
"responseElements":{"x-amz-request-id":"EXAMPLE","x-amz-id-2":"EXAMPLE"},"s3":{"s3SchemaVersion":"1.0","configurationId":"bdr",
"bucket":{"name":%q,"ownerIdentity":{"principalId":"EXAMPLE"},"arn":"arn:aws:s3:::%s"},
"object":{"key":%q,"size":6,"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"0A1B2C3D4E5F678901"}}}`, eventName, bucket, bucket, k))
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

// eventBridgeEvent is an EventBridge event of S3, as an EventBridge rule sends it to SQS.
func eventBridgeEvent(detailType, bucket, key string) string {
	return fmt.Sprintf(`{"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":%q,"source":"aws.s3",
"account":"111122223333","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":["arn:aws:s3:::%s"],
"detail":{"version":"0","bucket":{"name":%q},"object":{"key":%q,"size":5,"etag":"b1946ac92492d2347c6235b4d2611184","sequencer":"617f08299329d189"},
"request-id":"N4N7GDK58NMKJ12R","requester":"111122223333","source-ip-address":"10.0.0.1","reason":"PutObject"}}`, detailType, bucket, bucket, key)
}

func TestParseSQSMessage(t *testing.T) {
	testEvent := `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-01T00:00:00.000Z","Bucket":"b","RequestId":"X","HostId":"Y"}`
	for _, tc := range []struct {
		name  string
		body  string
		hints []hint
		ok    bool
	}{
		{name: "S3 put", body: awsS3Event("ObjectCreated:Put", "b", "db/0001/blob"), hints: []hint{{"b", "db/0001/blob"}}, ok: true},
		{name: "S3 URL-encoded key", body: awsS3Event("ObjectCreated:Put", "b", "db%2F0001%2Fblob+1%2B2"), hints: []hint{{"b", "db/0001/blob 1+2"}}, ok: true},
		{name: "S3 several records", body: awsS3Event("ObjectCreated:CompleteMultipartUpload", "b", "db/a", "db/b"), hints: []hint{{"b", "db/a"}, {"b", "db/b"}}, ok: true},
		{name: "S3 delete", body: awsS3Event("ObjectRemoved:Delete", "b", "db/a"), ok: true},
		{name: "S3 bad key encoding skipped", body: awsS3Event("ObjectCreated:Put", "b", "db%zz", "db/ok"), hints: []hint{{"b", "db/ok"}}, ok: true},
		{name: "MinIO's shape", body: minioEvent("s3:ObjectCreated:Put", "b", "db%2Fa"), hints: []hint{{"b", "db/a"}}, ok: true},
		{name: "S3 test event", body: testEvent, ok: true},
		{name: "EventBridge object created", body: eventBridgeEvent("Object Created", "b", "db/0001/blob"), hints: []hint{{"b", "db/0001/blob"}}, ok: true},
		{name: "EventBridge key published as given and decoded", body: eventBridgeEvent("Object Created", "b", "db/blob+1"),
			hints: []hint{{"b", "db/blob+1"}, {"b", "db/blob 1"}}, ok: true},
		{name: "EventBridge object deleted", body: eventBridgeEvent("Object Deleted", "b", "db/a"), ok: true},
		{name: "EventBridge without a key", body: eventBridgeEvent("Object Created", "b", ""), ok: true},
		{name: "SNS envelope", body: fmt.Sprintf(`{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":%q}`,
			awsS3Event("ObjectCreated:Put", "b", "db/a")), hints: []hint{{"b", "db/a"}}, ok: true},
		{name: "SNS envelope of garbage", body: `{"Type":"Notification","Message":"hello"}`},
		{name: "not JSON", body: "hello, world"},
		{name: "empty", body: ""},
		{name: "JSON array", body: `[1,2]`},
		{name: "other JSON", body: `{"order":42}`},
		{name: "records not a list", body: `{"Records":"x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hints, ok := parseSQSMessage([]byte(tc.body))
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.hints, hints)
		})
	}
}

// fakeSQS is a queue in memory: ReceiveMessage hands out what is queued (at most the batch
// size), after errs' errors one per call; DeleteMessageBatch removes messages by receipt.
type fakeSQS struct {
	mu       sync.Mutex
	queue    []sqstypes.Message
	errs     []error
	receives int
	calls    []time.Time // of ReceiveMessage
	inputs   []*sqs.ReceiveMessageInput
	deleted  []string // receipt handles
}

func (f *fakeSQS) add(bodies ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range bodies {
		id := fmt.Sprintf("m%d", len(f.queue)+len(f.deleted))
		f.queue = append(f.queue, sqstypes.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("r-" + id), Body: aws.String(b)})
	}
}

func (f *fakeSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	f.inputs = append(f.inputs, in)
	f.receives++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	n := min(int(in.MaxNumberOfMessages), len(f.queue))
	out := append([]sqstypes.Message{}, f.queue[:n]...)
	f.mu.Unlock()
	if n == 0 {
		// An empty queue: wait as a long poll would, a little.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return &sqs.ReceiveMessageOutput{Messages: out}, nil
}

func (f *fakeSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		for i, m := range f.queue {
			if aws.ToString(m.ReceiptHandle) == aws.ToString(e.ReceiptHandle) {
				f.queue = append(f.queue[:i], f.queue[i+1:]...)
				f.deleted = append(f.deleted, aws.ToString(e.ReceiptHandle))
				out.Successful = append(out.Successful, sqstypes.DeleteMessageBatchResultEntry{Id: e.Id})
				break
			}
		}
	}
	return out, nil
}

func (f *fakeSQS) state() (queued, deleted, receives int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue), len(f.deleted), f.receives
}

// sqsCounted records what a reader counted.
type sqsCounted struct {
	published
	ignored int
}

func (c *sqsCounted) NotificationsIgnored(_ context.Context, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ignored += n
}

// TestSQSReader: the reader long-polls for up to 10 messages, publishes the hints of every
// notification, counts them and the messages that are not notifications, deletes every
// message it received (garbage too), goes on after SQS errors with a doubling backoff, and
// returns when its context ends.
func TestSQSReader(t *testing.T) {
	f := &fakeSQS{errs: []error{errors.New("throttled"), errors.New("throttled again")}}
	for i := range 12 {
		f.add(awsS3Event("ObjectCreated:Put", "b", fmt.Sprintf("db%%2F%02d", i)))
	}
	f.add("garbage", eventBridgeEvent("Object Created", "b", "db/eb"), `{"Service":"Amazon S3","Event":"s3:TestEvent"}`)
	counted := &sqsCounted{}
	r := &sqsReader{client: f, queueURL: "http://sqs.local/1/q", hints: counted, counter: counted, log: slog.New(slog.DiscardHandler),
		minBackoff: 20 * time.Millisecond, maxBackoff: 30 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.run(ctx) }()
	require.Eventually(t, func() bool { q, _, _ := f.state(); return q == 0 }, 5*time.Second, 5*time.Millisecond, "the queue is emptied")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not stop with its context")
	}
	queued, deleted, receives := f.state()
	require.Equal(t, 0, queued)
	require.Equal(t, 15, deleted, "every message is deleted, the garbage and the test event too")
	require.GreaterOrEqual(t, receives, 4, "two errors, then two batches")
	var want []string
	for i := range 12 {
		want = append(want, fmt.Sprintf("b/db/%02d", i))
	}
	want = append(want, "b/db/eb")
	require.Equal(t, want, counted.hints)
	require.Equal(t, 13, counted.count)
	require.Equal(t, 1, counted.ignored)
	for _, in := range f.inputs {
		require.Equal(t, "http://sqs.local/1/q", aws.ToString(in.QueueUrl))
		require.EqualValues(t, 10, in.MaxNumberOfMessages)
		require.EqualValues(t, 20, in.WaitTimeSeconds)
	}
	// The backoff: 20 ms after the first error, 30 ms (doubled, capped) after the second.
	require.GreaterOrEqual(t, f.calls[1].Sub(f.calls[0]), 20*time.Millisecond)
	require.GreaterOrEqual(t, f.calls[2].Sub(f.calls[1]), 30*time.Millisecond)
}

// TestSQSReaderStopsWhileWaiting: a reader waiting out a backoff stops at once with its
// context.
func TestSQSReaderStopsWhileWaiting(t *testing.T) {
	f := &fakeSQS{errs: []error{errors.New("down")}}
	r := &sqsReader{client: f, queueURL: "q", hints: &published{}, log: slog.New(slog.DiscardHandler), minBackoff: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.run(ctx) }()
	require.Eventually(t, func() bool { _, _, n := f.state(); return n == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not stop during its backoff")
	}
}
