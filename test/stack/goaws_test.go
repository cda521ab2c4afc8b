package stack

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

// TestGoAWS: aws-sdk-go-v2's SQS client, through the translator, sends to goaws's queue,
// long-polls it (a receive waits for a message sent meanwhile), deletes in batches (the
// queue ends empty), and learns of a queue that does not exist as SQS says it.
func TestGoAWS(t *testing.T) {
	ctx := context.Background()
	q := NewGoAWS(t, "bdr-test")
	c := q.Client()
	body := `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"db%2Fa+b"}}}]}`
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.QueueURL), MessageBody: aws.String(body)})
	require.NoError(t, err)
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.QueueURL), MessageBody: aws.String("<not json> & \"quoted\"")})
	require.NoError(t, err)
	n, err := q.Messages(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	require.NoError(t, err)
	require.Len(t, out.Messages, 2)
	require.Equal(t, body, aws.ToString(out.Messages[0].Body), "the body comes back as sent (the SDK checks its MD5 too)")
	require.Equal(t, "<not json> & \"quoted\"", aws.ToString(out.Messages[1].Body))
	var entries []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range out.Messages {
		entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(string(rune('a' + i))), ReceiptHandle: m.ReceiptHandle})
	}
	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.QueueURL), Entries: entries})
	require.NoError(t, err)
	require.Len(t, del.Successful, 2)
	require.Empty(t, del.Failed)
	n, err = q.Messages(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, n)

	// A long poll on the empty queue returns the message sent while it waits.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = q.Client().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.QueueURL), MessageBody: aws.String("late")})
	}()
	out, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 10})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)
	require.Equal(t, "late", aws.ToString(out.Messages[0].Body))

	_, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.QueueURL + "-missing"), WaitTimeSeconds: 1})
	var missing *sqstypes.QueueDoesNotExist
	require.True(t, errors.As(err, &missing), "want QueueDoesNotExist, got %v", err)
}
