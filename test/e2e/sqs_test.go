package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// TestNotificationsSQS: the worker reads the bucket's event notifications from an SQS queue
// (replication.notifications_sqs; goaws on the real stack), as AWS S3 users configure them,
// the MinIO webhook off. MinIO cannot send to SQS, so the test sends what AWS S3 would: after
// writing each blob to the primary, an S3 event notification naming it (key URL-encoded), or
// for every fourth an EventBridge "Object Created" event, plus S3's s3:TestEvent and messages
// that are no notification at all. With a 2 s settle window and a 1 s poll interval:
//   - the worker takes a hint for every blob (/metrics) and counts the two garbage messages
//     as ignored; every message is deleted (the queue ends empty), and the reader went on past
//     the garbage (hints of the blobs written after it arrived);
//   - every blob is in the target at the watermark, written there once;
//   - hints made copies start before a listing could show the blob (arrivals' hintedFirst:
//     structural, no timing threshold);
//   - bdr config check reaches the queue.
func TestNotificationsSQS(t *testing.T) {
	ctx := context.Background()
	metricsPort, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	s := newStackWith(t, stack.Options{SQS: true, RecordStoreRequests: true}, func(c *config.Config) {
		c.Replication.SettleWindow = 2 * time.Second
		c.Replication.PollInterval = time.Second
		c.Telemetry.MetricsListen = metricsAddr
	})
	if s.Config.Replication.NotificationsListen != "" {
		t.Fatal("the webhook is on: this test is about SQS alone")
	}
	// bdr config check reaches the queue too.
	if out, err := s.Bdr(ctx, "config", "check"); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	} else if !regexp.MustCompile(`(?m)^OK +replication\.notifications_sqs `).Match(out) {
		t.Errorf("config check did not check the queue:\n%s", out)
	}
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])
	tc := temporalClient(t, s)
	putBlobs(t, s.MinIO["primary"].S3(), "0001/initial", 50)
	run := startReplicate(t, s, tc, db)
	waitCaughtUp(t, tc, run.GetID(), 2*time.Minute)
	metric := func(name string) float64 { return metricValue(metricsText(t, metricsAddr), name) }
	receivedBefore := metric("bdr_notifications_received_total")

	q := s.SQS.Client()
	send := func(body string) {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.SQS.QueueURL), MessageBody: aws.String(body)}); err != nil {
			t.Errorf("send to the queue: %v", err)
		}
	}
	// What S3 sends when a bucket's notification is configured, and garbage, first: the
	// reader must go on to the blobs' events.
	send(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-01T00:00:00.000Z","Bucket":"` + bucket + `","RequestId":"X","HostId":"Y"}`)
	send("this is not a notification")
	folder := "0002/sqs"
	written := writeAndNotify(t, s.MinIO["primary"].S3(), folder, 6*time.Second, send)
	send(`{"Records": "garbage too"`)
	waitCaughtUpAfter(t, tc, run.GetID(), time.Now(), time.Minute)

	waitFor(t, 30*time.Second, "the worker to take every hint and empty the queue", func() (bool, error) {
		got := metric("bdr_notifications_received_total") - receivedBefore
		n, err := s.SQS.Messages(ctx)
		if err != nil {
			return false, err
		}
		return got >= float64(written) && n == 0, fmt.Errorf("%v hints of %d blobs taken, %d messages in the queue", got, written, n)
	})
	if got := metric("bdr_notifications_received_total") - receivedBefore; got != float64(written) {
		t.Errorf("the worker took %v hints, want one per blob written, %d", got, written)
	}
	if got := metric("bdr_notifications_ignored_total"); got != 2 {
		t.Errorf("the worker ignored %v messages, want the 2 that are no notification (the test event is one)", got)
	}
	checkNotifiedPhase(t, s, src, dst, folder, written)
	a := arrivals(t, s, src, dst, folder)
	t.Logf("with SQS notifications: %s", a)
	if a.hintedFirst == 0 {
		t.Errorf("no blob's notification reached a Sync before a listing could show the blob: %s", a)
	}
	st, err := queryStatus(ctx, tc, run.GetID())
	if err != nil {
		t.Fatal(err)
	}
	if !st.LastErrorAt.IsZero() {
		t.Errorf("a step failed at %s: %s", st.LastErrorAt, st.LastError)
	}
}

// writeAndNotify writes a blob under folder every 20 ms for d and, after each write, sends
// what AWS S3 would send to the queue for it: an S3 event notification with the key
// URL-encoded, or for every fourth blob an EventBridge "Object Created" event. It returns how
// many blobs it wrote.
func writeAndNotify(t *testing.T, c *s3.Client, folder string, d time.Duration, send func(string)) int {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	n := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		end := time.Now().Add(d)
		body := bytes.Repeat([]byte("sqs hint "), 100)
		for seq := 0; time.Now().Before(end); seq++ {
			<-tick.C
			key := workload.Key(rootPath+"/"+folder, 0, seq)
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
				t.Errorf("put %s: %v", key, err)
				return
			}
			n++
			if seq%4 == 3 {
				send(fmt.Sprintf(`{"version":"0","id":"%d","detail-type":"Object Created","source":"aws.s3","account":"111122223333",
"time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":["arn:aws:s3:::%s"],"detail":{"version":"0","bucket":{"name":%q},
"object":{"key":%q,"size":%d},"request-id":"X","requester":"111122223333","reason":"PutObject"}}`, seq, bucket, bucket, key, len(body)))
				continue
			}
			send(fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-01-01T00:00:00.000Z",
"eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","configurationId":"bdr","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},
"object":{"key":%q,"size":%d,"sequencer":"%016X"}}}]}`, bucket, bucket, url.QueryEscape(key), len(body), seq))
		}
	}()
	wg.Wait()
	return n
}
