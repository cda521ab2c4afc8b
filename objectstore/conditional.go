package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/smithy-go"
)

// ErrPreconditionFailed means a conditional write found the blob changed (If-Match) or
// already there (If-None-Match): another writer got there first.
var ErrPreconditionFailed = errors.New("precondition failed (the blob changed)")

// GetBytesETag reads a whole (small) blob and returns its ETag (without quotes), for a
// conditional write after it (PutBytesIf).
func (c *Client) GetBytesETag(ctx context.Context, key string) ([]byte, string, error) {
	body, info, err := c.Get(ctx, key)
	if err != nil {
		return nil, "", err
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, "", fmt.Errorf("objectstore: read %s: %w", key, err)
	}
	return data, info.ETag, nil
}

// PutBytesIf writes a whole blob only if its ETag is still ifMatch or, with ifMatch "", only
// if there is none (S3's and MinIO's conditional PUT: If-Match, If-None-Match: *). Otherwise
// it returns ErrPreconditionFailed and writes nothing. It returns the new blob's ETag. Once
// started, it runs until the store answers (see landing).
//
// A retried attempt whose first try landed but whose answer was lost fails the condition
// (the first try changed the ETag): a caller that gets ErrPreconditionFailed reads the blob
// back to tell its own write from another writer's.
func (c *Client) PutBytesIf(ctx context.Context, key string, data []byte, meta map[string]string, ifMatch string) (string, error) {
	h := putHeaders(meta, "")
	if ifMatch == "" {
		h.Set("If-None-Match", "*")
	} else {
		h.Set("If-Match", `"`+ifMatch+`"`)
	}
	var etag string
	err := land(ctx, "put "+key, func(lctx context.Context) error {
		resp, err := c.direct.do(lctx, http.MethodPut, key, h, data)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		etag = trimETag(resp.Header.Get("ETag"))
		return resp.Body.Close()
	})
	if preconditionFailed(err) {
		return "", fmt.Errorf("objectstore: put %s if %q: %w", key, ifMatch, ErrPreconditionFailed)
	}
	return etag, err
}

// preconditionFailed reports whether err is the store refusing a conditional request: 412,
// or 409 ConditionalRequestConflict (AWS, for a concurrent conditional write).
func preconditionFailed(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "PreconditionFailed", "ConditionalRequestConflict":
		return true
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed
}

// ErrNoConditionalWrites means the store wrote a PUT whose condition did not hold: it ignores
// If-None-Match or If-Match.
var ErrNoConditionalWrites = errors.New("the store ignores conditional writes (If-None-Match, If-Match)")

// CheckConditionalWrites writes a small probe blob at key three times, where the store must
// accept the first (If-None-Match: * on a free key) and refuse the other two (If-None-Match:
// * on a taken key, If-Match with another ETag), then deletes it. A store that writes either
// of those silently (an old MinIO, some S3-compatible stores) would let a fenced Sync write a
// watermark record and an early copy replace a blob: ErrNoConditionalWrites. key must be
// unused: the probe overwrites it and deletes it.
func (c *Client) CheckConditionalWrites(ctx context.Context, key string) error {
	defer func() { _ = c.Delete(context.WithoutCancel(ctx), key) }()
	etag, err := c.PutBytesIf(ctx, key, []byte("probe"), nil, "")
	if errors.Is(err, ErrPreconditionFailed) {
		// A retried PUT whose first try landed (its answer lost) finds the key taken by
		// itself: the probe's own blob is there.
		etag, err = c.ownProbe(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("objectstore: conditional write probe %s: %w", key, err)
	}
	if _, err := c.PutBytesIf(ctx, key, []byte("taken"), nil, ""); !errors.Is(err, ErrPreconditionFailed) {
		return probeFailed(key, "If-None-Match: * over a blob", err)
	}
	if _, err := c.PutBytesIf(ctx, key, []byte("stale"), nil, etag+"0"); !errors.Is(err, ErrPreconditionFailed) {
		return probeFailed(key, "If-Match with another ETag", err)
	}
	return nil
}

// ownProbe returns the ETag of the probe's blob at key, or an error if key holds another.
func (c *Client) ownProbe(ctx context.Context, key string) (string, error) {
	data, etag, err := c.GetBytesETag(ctx, key)
	if err != nil {
		return "", err
	}
	if string(data) != "probe" {
		return "", fmt.Errorf("the key holds another blob: use an unused key")
	}
	return etag, nil
}

// probeFailed says what the conditional write probe saw instead of a refusal.
func probeFailed(key, condition string, err error) error {
	if err != nil {
		return fmt.Errorf("objectstore: conditional write probe %s (%s): %w", key, condition, err)
	}
	return fmt.Errorf("objectstore: conditional write probe %s: written despite %s: %w", key, condition, ErrNoConditionalWrites)
}
