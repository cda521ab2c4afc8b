package standin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// blobStore reads and writes whole objects under one location of one bucket. Keys given to
// and returned by it are relative to the location's path.
type blobStore struct {
	c   *s3.Client
	loc location
}

func newBlobStore(t s3Target, l location) *blobStore {
	return &blobStore{c: t.client(), loc: l}
}

func (s *blobStore) full(key string) string {
	if s.loc.Path == "" {
		return key
	}
	return s.loc.Path + "/" + key
}

// Display is the key as an operator sees it in the bucket, for error messages.
func (s *blobStore) Display(key string) string { return s.loc.Bucket + "/" + s.full(key) }

// Check fails unless the bucket answers with these credentials: it is the last thing done
// before anything is written, so a wrong endpoint or key writes nothing.
func (s *blobStore) Check(ctx context.Context) error {
	_, err := s.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.loc.Bucket)})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", s.loc.Bucket, err)
	}
	return nil
}

func (s *blobStore) Put(ctx context.Context, key string, data []byte) error {
	_, err := s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.loc.Bucket), Key: aws.String(s.full(key)), Body: bytes.NewReader(data),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", s.Display(key), err)
	}
	return nil
}

// Get returns the object, or an error wrapping os.ErrNotExist when there is none.
func (s *blobStore) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.loc.Bucket), Key: aws.String(s.full(key))})
	if err != nil {
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || (errors.As(err, &api) && api.ErrorCode() == "NotFound") {
			return nil, fmt.Errorf("get %s: %w", s.Display(key), os.ErrNotExist)
		}
		return nil, fmt.Errorf("get %s: %w", s.Display(key), err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", s.Display(key), err)
	}
	return data, nil
}

func (s *blobStore) Delete(ctx context.Context, key string) error {
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.loc.Bucket), Key: aws.String(s.full(key))})
	if err != nil {
		return fmt.Errorf("delete %s: %w", s.Display(key), err)
	}
	return nil
}

// List returns the keys under prefix (relative keys, all pages).
func (s *blobStore) List(ctx context.Context, prefix string) ([]string, error) {
	keys, _, err := s.list(ctx, prefix, "")
	return keys, err
}

// Dirs returns the names of the "folders" directly under prefix.
func (s *blobStore) Dirs(ctx context.Context, prefix string) ([]string, error) {
	_, dirs, err := s.list(ctx, prefix, "/")
	return dirs, err
}

func (s *blobStore) list(ctx context.Context, prefix, delim string) (keys, dirs []string, err error) {
	full := s.full(prefix)
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.loc.Bucket), Prefix: aws.String(full)}
	if delim != "" {
		in.Delimiter = aws.String(delim)
	}
	base := s.full("") // "" or "<path>/"
	pages := s3.NewListObjectsV2Paginator(s.c, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", s.loc.Bucket+"/"+full, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), base))
		}
		for _, cp := range page.CommonPrefixes {
			d := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), full), "/")
			dirs = append(dirs, d)
		}
	}
	return keys, dirs, nil
}
