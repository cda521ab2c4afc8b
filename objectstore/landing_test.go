package objectstore_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// TestCancelledCopyLandsBeforeItReturns: a store finishes a PUT whose body it holds whole even
// when the client has hung up, so a copy cancelled at that moment must not return before the
// store has answered. Otherwise the blob appears after its caller stopped: after a pause that
// promised no copy in flight, in a target a failover has just sealed. A proxy in front of the
// target holds each PUT for a moment once it has the whole body; the copy's context is
// cancelled in that moment. When the copy returns, the blob is there, and stays as it is.
func TestCancelledCopyLandsBeforeItReturns(t *testing.T) {
	ctx := context.Background()
	a, b := stack.NewMinIO(t), stack.NewMinIO(t)
	require.NoError(t, a.MakeBucket(ctx, "src"))
	require.NoError(t, b.MakeBucket(ctx, "dst"))
	src := newClient(t, a, "src")
	bodyIn := make(chan struct{}, 1)
	proxy := holdingProxy(t, b.Endpoint, 300*time.Millisecond, bodyIn)
	viaProxy, err := objectstore.New(objectstore.Options{Endpoint: proxy, Bucket: "dst", PathStyle: true,
		AccessKeyID: b.AccessKey, SecretAccessKey: b.SecretKey})
	require.NoError(t, err)
	dst := newClient(t, b, "dst")
	const threshold, part = 12 << 20, 5 << 20
	tr := objectstore.NewTransfer(src, viaProxy, threshold, part)

	for _, size := range []int{64 << 10 /* buffered */, 8<<20 + 1 /* streamed */} {
		key := "blob-" + strings.Repeat("x", size%7)
		require.NoError(t, src.PutBytes(ctx, key, workload.Content(4, size, size), nil))
		l, err := src.List(ctx, key)
		require.NoError(t, err)
		copyCtx, cancel := context.WithCancel(ctx)
		go func() {
			<-bodyIn
			cancel()
		}()
		err = tr.Copy(copyCtx, l.Objects[0], key, nil)
		cancel()
		require.NoError(t, err, "the store answered the PUT it had whole: the copy succeeded")
		info, err := dst.Head(ctx, key)
		require.NoError(t, err, "the blob is there when the copy returns")
		require.EqualValues(t, size, info.Size)
	}

	// Nothing starts once the context has ended.
	done, cancel := context.WithCancel(ctx)
	cancel()
	require.NoError(t, src.PutBytes(ctx, "late", []byte("late"), nil))
	l, err := src.List(ctx, "late")
	require.NoError(t, err)
	require.Error(t, tr.Copy(done, l.Objects[0], "late", nil))
	time.Sleep(500 * time.Millisecond)
	_, err = dst.Head(ctx, "late")
	require.ErrorIs(t, err, os.ErrNotExist)
}

// holdingProxy forwards requests to endpoint; a PUT is held for hold once its whole body has
// arrived, and bodyIn is told then. The Host header is kept, so signatures still match.
func holdingProxy(t *testing.T, endpoint string, hold time.Duration, bodyIn chan<- struct{}) string {
	t.Helper()
	target, err := url.Parse(endpoint)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case bodyIn <- struct{}{}:
			default:
			}
			time.Sleep(hold)
			// The client may have hung up: forward anyway, as a store would finish the PUT.
			r = r.WithContext(context.WithoutCancel(r.Context()))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
