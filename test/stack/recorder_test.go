package stack

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TestRecorderPassesSignedRequests: requests signed for the recorder's address reach a real
// MinIO, which accepts their signatures (awkward keys and a body included), and each is noted
// with its bucket, key, query action and the operation its User-Agent names.
func TestRecorderPassesSignedRequests(t *testing.T) {
	ctx := context.Background()
	m := NewMinIO(t)
	if err := m.MakeBucket(ctx, "objects"); err != nil {
		t.Fatal(err)
	}
	rec, err := startRecorder(strings.TrimPrefix(m.Endpoint, "http://"), testLogWriter(t, "recorder"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.close)
	c := s3.New(s3.Options{BaseEndpoint: aws.String("http://" + rec.addr), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(m.AccessKey, m.SecretKey, "")})
	// What objectstore.WithOperation does, without importing it.
	tagged := func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Build.Add(middleware.BuildMiddlewareFunc("tag", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				req := in.Request.(*smithyhttp.Request)
				req.Header.Set("User-Agent", req.Header.Get("User-Agent")+" bdr-op/Test/Probe")
				return next.HandleBuild(ctx, in)
			}), middleware.After)
		})
	}

	key := "a b/c+d=e&f~g!'()*ü%20"
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("objects"), Key: aws.String(key),
		Body: bytes.NewReader(data)}, tagged); err != nil {
		t.Fatalf("put through the recorder: %v", err)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objects"), Key: aws.String(key)}, tagged)
	if err != nil {
		t.Fatalf("get through the recorder: %v", err)
	}
	body, err := io.ReadAll(got.Body)
	_ = got.Body.Close()
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("get through the recorder: %d bytes, %v; want the %d put", len(body), err, len(data))
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("objects"), Prefix: aws.String("a b/")}, tagged); err != nil {
		t.Fatalf("list through the recorder: %v", err)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("objects"), Key: aws.String("big")}, tagged)
	if err != nil {
		t.Fatalf("create upload through the recorder: %v", err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("objects"), Key: aws.String("big"), UploadId: up.UploadId}); err != nil {
		t.Fatalf("abort upload through the recorder: %v", err)
	}

	want := []StoreRequest{
		{Method: http.MethodPut, Bucket: "objects", Key: key, Query: "x-id", Operation: "Test/Probe"},
		{Method: http.MethodGet, Bucket: "objects", Key: key, Query: "x-id", Operation: "Test/Probe"},
		{Method: http.MethodGet, Bucket: "objects", Query: "list-type=2&prefix", Operation: "Test/Probe"},
		{Method: http.MethodPost, Bucket: "objects", Key: "big", Query: "uploads", Operation: "Test/Probe"},
		{Method: http.MethodDelete, Bucket: "objects", Key: "big", Query: "uploadId&x-id"},
	}
	seen := rec.since(0)
	if len(seen) != len(want) {
		t.Fatalf("recorded %d requests, want %d: %v", len(seen), len(want), seen)
	}
	for i, w := range want {
		s := seen[i]
		if s.Method != w.Method || s.Bucket != w.Bucket || s.Key != w.Key || s.Query != w.Query || s.Operation != w.Operation {
			t.Errorf("request %d: %v, want %v", i, s, w)
		}
		if s.UserAgent == "" || s.At.IsZero() {
			t.Errorf("request %d: no User-Agent or time: %+v", i, s)
		}
	}
	if n := len(rec.since(3)); n != 2 {
		t.Errorf("since(3): %d requests, want 2", n)
	}
}
