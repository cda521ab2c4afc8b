package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// errNotExist is os.ErrNotExist, so callers test with errors.Is(err, os.ErrNotExist).
var errNotExist = os.ErrNotExist

// Object is one blob as a listing shows it.
type Object struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
	ETag         string    `json:"etag"` // without quotes
}

// Info is one blob as HEAD shows it: the listing's fields and its user metadata.
type Info struct {
	Object
	Metadata map[string]string // keys lower-case, without the x-amz-meta- prefix
}

// Head returns a blob's size, time, ETag and metadata; os.ErrNotExist if it is absent.
func (c *Client) Head(ctx context.Context, key string) (Info, error) {
	out, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key)})
	if err != nil {
		return Info{}, fmt.Errorf("objectstore: head %s: %w", key, normalize(err))
	}
	return Info{
		Object: Object{Key: key, Size: aws.ToInt64(out.ContentLength),
			LastModified: aws.ToTime(out.LastModified), ETag: trimETag(aws.ToString(out.ETag))},
		Metadata: lowerKeys(out.Metadata),
	}, nil
}

// Get opens a blob for reading; the caller closes the reader.
func (c *Client) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	return c.direct.get(ctx, key)
}

// GetRange opens length bytes of a blob from offset. With etag set, the store refuses the
// read if the blob is no longer that version, so the parts of one copy never mix versions.
func (c *Client) GetRange(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{
		Bucket: aws.String(c.bucket), Key: aws.String(key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)),
	}
	if etag != "" {
		in.IfMatch = aws.String(`"` + etag + `"`)
	}
	out, err := c.s3.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("objectstore: get %s [%d+%d]: %w", key, offset, length, normalize(err))
	}
	return out.Body, nil
}

// GetBytes reads a whole (small) blob.
func (c *Client) GetBytes(ctx context.Context, key string) ([]byte, error) {
	body, _, err := c.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("objectstore: read %s: %w", key, err)
	}
	return data, nil
}

// PutBytes writes a whole blob with the given user metadata. contentMD5 (base64) may be
// empty; when set, the store rejects a body that does not match it.
func (c *Client) PutBytes(ctx context.Context, key string, data []byte, meta map[string]string) error {
	return c.put(ctx, key, data, putHeaders(meta, ""))
}

// put writes a whole blob with net/http (see direct); once started, it runs until the store
// answers (see landing).
func (c *Client) put(ctx context.Context, key string, data []byte, h http.Header) error {
	return land(ctx, "put "+key, func(lctx context.Context) error {
		return c.direct.put(lctx, key, data, h)
	})
}

// Delete removes a blob; deleting an absent blob is not an error.
func (c *Client) Delete(ctx context.Context, key string) error {
	_, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key)})
	if err != nil && !errors.Is(normalize(err), os.ErrNotExist) {
		return fmt.Errorf("objectstore: delete %s: %w", key, normalize(err))
	}
	return nil
}

func escapeCopySource(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func trimETag(etag string) string { return strings.Trim(etag, `"`) }

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}
