package objectstore

import (
	"context"
	"fmt"
)

// Folders returns the folders one level below prefix (each ending in "/"), without listing
// what they hold: one request per thousand folders, however many blobs they hold.
func (c *Client) Folders(ctx context.Context, prefix string) ([]string, error) {
	f, err := c.listFolder(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("objectstore: folders of %s: %w", prefix, err)
	}
	return f.folders, nil
}
