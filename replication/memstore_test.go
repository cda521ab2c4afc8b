package replication_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

var (
	_ replication.Store  = (*memStore)(nil)
	_ replication.Copier = (*memCopier)(nil)
)

// fakeClock is the clock the memStores of one test share. Every mutation of a store advances
// it by tick, so that the writes of a test are spread over time as against a real store (and a
// write's LastModified depends on when it happened, not only on what the test set up). It is
// safe for concurrent use.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	tick time.Duration
}

func newFakeClock(start time.Time) *fakeClock { return &fakeClock{now: start} }

// Now returns the current time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// SetTick sets how far every store mutation moves the clock.
func (c *fakeClock) SetTick(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick = d
}

// step returns the time of a mutation happening now, then moves the clock by tick.
func (c *fakeClock) step() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.tick)
	return t
}

// memObject is one blob of a memStore.
type memObject struct {
	Data         []byte
	LastModified time.Time
	ETag         string
	Meta         map[string]string
}

// memStore is an in-memory bucket implementing replication.Store. LastModified is the fake
// clock truncated to resolution (1 ms like MinIO, 1 s like AWS); the clock a listing reports
// (StoreTime) is truncated to clockStep: a second by default (the Date header alone), less
// for objectstore's finer estimate of the store's clock. A listing's Resolution is computed
// from what it lists, as objectstore does. A multipart upload in
// progress is listed by Uploads and its blob appears only when completed, with the
// LastModified of its start. It counts PUTs per key. It is safe for concurrent use.
type memStore struct {
	clock      *fakeClock
	resolution time.Duration
	clockStep  time.Duration // set before use
	// headResolution, if set, truncates the LastModified a HEAD answers, as a real store's
	// Last-Modified header has whole seconds where MinIO's listings have milliseconds.
	headResolution time.Duration

	mu      sync.Mutex
	objects map[string]memObject
	uploads map[string]memUpload // by upload ID
	nextID  int
	puts    map[string]int // whole-object writes (PutBytes, copies received) per key

	// Hooks, set before use. afterList runs after a List or Uploads call has taken its
	// snapshot (kind is "list", "list-key" for a prefix that is not a folder (a hint's key), or
	// "uploads"); beforePut and afterPut run before and after a
	// PutBytes or a received copy is stored. They run outside the store's lock.
	afterList func(kind string)
	beforePut func(key string, data []byte, meta map[string]string)
	afterPut  func(key string)
	// afterCopyWithin runs after a server-side copy is stored, outside the store's lock.
	afterCopyWithin func(key string)
}

type memUpload struct {
	upload objectstore.Upload
	data   []byte
}

func newMemStore(clock *fakeClock, resolution time.Duration) *memStore {
	return &memStore{clock: clock, resolution: resolution, clockStep: time.Second,
		objects: map[string]memObject{}, uploads: map[string]memUpload{}, puts: map[string]int{}}
}

func etagOf(data []byte) string {
	sum := md5.Sum(data)
	return hex.EncodeToString(sum[:])
}

func notExist(op, key string) error {
	return fmt.Errorf("memstore: %s %s: %w", op, key, os.ErrNotExist)
}

// List returns the blobs under prefix in key order, and the store's clock to the second.
func (s *memStore) List(ctx context.Context, prefix string) (objectstore.Listing, error) {
	if err := ctx.Err(); err != nil {
		return objectstore.Listing{}, err
	}
	s.mu.Lock()
	l := objectstore.Listing{StoreTime: s.clock.Now().Truncate(s.clockStep), Resolution: time.Second, Requests: 1}
	for key, o := range s.objects {
		if strings.HasPrefix(key, prefix) {
			l.Objects = append(l.Objects, objectstore.Object{Key: key, Size: int64(len(o.Data)),
				LastModified: o.LastModified, ETag: o.ETag})
			l.Resolution = gcd(l.Resolution, time.Duration(o.LastModified.Nanosecond()))
		}
	}
	hook := s.afterList
	s.mu.Unlock()
	slices.SortFunc(l.Objects, func(a, b objectstore.Object) int { return strings.Compare(a.Key, b.Key) })
	if hook != nil {
		if strings.HasSuffix(prefix, "/") {
			hook("list")
		} else {
			hook("list-key")
		}
	}
	return l, nil
}

// ListParallel is List: a memStore has nothing to gain from parallel requests.
func (s *memStore) ListParallel(ctx context.Context, prefix string) (objectstore.Listing, error) {
	return s.List(ctx, prefix)
}

func gcd(a, b time.Duration) time.Duration {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ListUploads returns the multipart uploads in progress under prefix, with the store's clock
// (to clockStep, as List) when it took its snapshot.
func (s *memStore) ListUploads(ctx context.Context, prefix string) (objectstore.UploadListing, error) {
	if err := ctx.Err(); err != nil {
		return objectstore.UploadListing{}, err
	}
	s.mu.Lock()
	now := s.clock.Now().Truncate(s.clockStep)
	s.mu.Unlock()
	uploads, err := s.Uploads(ctx, prefix)
	return objectstore.UploadListing{Uploads: uploads, StoreTime: now, Requests: 1}, err
}

// Uploads returns the multipart uploads in progress under prefix.
func (s *memStore) Uploads(ctx context.Context, prefix string) ([]objectstore.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []objectstore.Upload
	for _, u := range s.uploads {
		if strings.HasPrefix(u.upload.Key, prefix) {
			out = append(out, u.upload)
		}
	}
	hook := s.afterList
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b objectstore.Upload) int { return strings.Compare(a.UploadID, b.UploadID) })
	if hook != nil {
		hook("uploads")
	}
	return out, nil
}

// Head returns a blob's listing fields and metadata; os.ErrNotExist if absent.
func (s *memStore) Head(ctx context.Context, key string) (objectstore.Info, error) {
	if err := ctx.Err(); err != nil {
		return objectstore.Info{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	if !ok {
		return objectstore.Info{}, notExist("head", key)
	}
	lm := o.LastModified
	if s.headResolution > 0 {
		lm = lm.Truncate(s.headResolution)
	}
	return objectstore.Info{
		Object:   objectstore.Object{Key: key, Size: int64(len(o.Data)), LastModified: lm, ETag: o.ETag},
		Metadata: maps.Clone(o.Meta),
	}, nil
}

// GetBytes returns a copy of a blob's content; os.ErrNotExist if absent.
func (s *memStore) GetBytes(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o, ok := s.Get(key)
	if !ok {
		return nil, notExist("get", key)
	}
	return o.Data, nil
}

// PutBytes writes a whole blob with meta (keys lower-cased, as S3 returns them).
func (s *memStore) PutBytes(ctx context.Context, key string, data []byte, meta map[string]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.write(key, data, meta)
	return nil
}

// GetBytesETag returns a copy of a blob's content and its ETag; os.ErrNotExist if absent.
func (s *memStore) GetBytesETag(ctx context.Context, key string) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	o, ok := s.Get(key)
	if !ok {
		return nil, "", notExist("get", key)
	}
	return o.Data, o.ETag, nil
}

// PutBytesIf writes a whole blob if its ETag is ifMatch ("": if absent), as S3's conditional
// PUT does; otherwise objectstore.ErrPreconditionFailed.
func (s *memStore) PutBytesIf(ctx context.Context, key string, data []byte, meta map[string]string, ifMatch string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.runBeforePut(key, data, meta)
	s.mu.Lock()
	cur, ok := s.objects[key]
	if (ifMatch == "" && ok) || (ifMatch != "" && (!ok || cur.ETag != ifMatch)) {
		s.mu.Unlock()
		return "", fmt.Errorf("memstore: put %s if %q: %w", key, ifMatch, objectstore.ErrPreconditionFailed)
	}
	return s.storeLocked(key, data, meta).ETag, nil
}

// CopyWithin copies a blob inside the store; meta nil keeps the source's metadata.
func (s *memStore) CopyWithin(ctx context.Context, srcKey, dstKey string, _ int64, meta map[string]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[srcKey]
	if !ok {
		return notExist("copy", srcKey)
	}
	if meta == nil {
		meta = o.Meta
	}
	s.objects[dstKey] = memObject{Data: slices.Clone(o.Data), LastModified: s.lastModified(),
		ETag: o.ETag, Meta: lowerKeys(meta)}
	if after := s.afterCopyWithin; after != nil {
		s.mu.Unlock()
		after(dstKey)
		s.mu.Lock()
	}
	return nil
}

// Delete removes a blob; deleting an absent blob is not an error.
func (s *memStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	s.clock.step()
	return nil
}

// Put writes a blob as a test's producer would (no metadata) and returns its listing entry.
func (s *memStore) Put(key string, data []byte) objectstore.Object {
	o := s.write(key, data, nil)
	return objectstore.Object{Key: key, Size: int64(len(data)), LastModified: o.LastModified, ETag: o.ETag}
}

// PutAt writes a blob that shows up now with a LastModified in the past, as a blob the store
// made visible late would (a completed upload, a replica catching up), and returns its
// listing entry.
func (s *memStore) PutAt(key string, data []byte, lastModified time.Time) objectstore.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := memObject{Data: slices.Clone(data), LastModified: lastModified.Truncate(s.resolution), ETag: etagOf(data)}
	s.objects[key] = o
	s.puts[key]++
	s.clock.step()
	return objectstore.Object{Key: key, Size: int64(len(data)), LastModified: o.LastModified, ETag: o.ETag}
}

// runBeforePut runs the beforePut hook, if any, outside the store's lock.
func (s *memStore) runBeforePut(key string, data []byte, meta map[string]string) {
	s.mu.Lock()
	hook := s.beforePut
	s.mu.Unlock()
	if hook != nil {
		hook(key, data, meta)
	}
}

// write stores a whole blob with the time of now, counting the PUT.
func (s *memStore) write(key string, data []byte, meta map[string]string) memObject {
	s.runBeforePut(key, data, meta)
	s.mu.Lock()
	return s.storeLocked(key, data, meta)
}

// storeLocked stores a whole blob with the time of now and counts the PUT; it is called with
// s.mu held, releases it, then runs the afterPut hook.
func (s *memStore) storeLocked(key string, data []byte, meta map[string]string) memObject {
	o := memObject{Data: slices.Clone(data), LastModified: s.lastModified(), ETag: etagOf(data), Meta: lowerKeys(meta)}
	s.objects[key] = o
	s.puts[key]++
	after := s.afterPut
	s.mu.Unlock()
	if after != nil {
		after(key)
	}
	return o
}

// lastModified is the time of a write happening now, at the store's resolution. s.mu is held.
func (s *memStore) lastModified() time.Time { return s.clock.step().Truncate(s.resolution) }

// StartUpload begins a multipart upload of data to key; the blob appears on CompleteUpload.
func (s *memStore) StartUpload(key string, data []byte) objectstore.Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	u := objectstore.Upload{Key: key, UploadID: fmt.Sprintf("upload-%d", s.nextID), Initiated: s.clock.step()}
	s.uploads[u.UploadID] = memUpload{upload: u, data: slices.Clone(data)}
	return u
}

// CompleteUpload completes an upload: its blob appears with the LastModified of its start,
// which is in the past (as S3 and MinIO do).
func (s *memStore) CompleteUpload(id string) objectstore.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[id]
	if !ok {
		panic("memstore: no upload " + id)
	}
	delete(s.uploads, id)
	o := memObject{Data: u.data, LastModified: u.upload.Initiated.Truncate(s.resolution), ETag: etagOf(u.data)}
	s.objects[u.upload.Key] = o
	s.puts[u.upload.Key]++
	s.clock.step()
	return objectstore.Object{Key: u.upload.Key, Size: int64(len(o.Data)), LastModified: o.LastModified, ETag: o.ETag}
}

// Get returns a copy of one blob.
func (s *memStore) Get(key string) (memObject, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	if !ok {
		return memObject{}, false
	}
	o.Data, o.Meta = slices.Clone(o.Data), maps.Clone(o.Meta)
	return o, true
}

// Snapshot returns a copy of every blob under prefix.
func (s *memStore) Snapshot(prefix string) map[string]memObject {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]memObject{}
	for k, o := range s.objects {
		if strings.HasPrefix(k, prefix) {
			o.Data, o.Meta = slices.Clone(o.Data), maps.Clone(o.Meta)
			out[k] = o
		}
	}
	return out
}

// Puts returns the whole-object writes per key under prefix so far.
func (s *memStore) Puts(prefix string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, n := range s.puts {
		if strings.HasPrefix(k, prefix) {
			out[k] = n
		}
	}
	return out
}

func lowerKeys(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// errInjected is the failure a memCopier injects.
var errInjected = errors.New("memcopier: injected failure")

// memCopier copies blobs from one memStore to another, as objectstore.Transfer does between
// two buckets. Tests can delay each copy (so that parallel copies finish out of order), block
// or fail a copy in a hook, and fail the Nth copy, before or after its PUT (a PUT that
// succeeds but whose reply is lost). A copy whose context is cancelled before its PUT does not
// write. It is safe for concurrent use.
type memCopier struct {
	src, dst *memStore

	// Set before use.
	delay        func(key string) time.Duration
	before       func(ctx context.Context, key string) error
	failOn       int  // the failOn-th Copy call fails (1-based); 0: none
	failAfterPut bool // the failing copy writes its blob before it reports the failure
	// staleRead, if set, may answer a copy's read of obj with data of its own, as a stale
	// replica of an eventually consistent store would after obj was overwritten.
	staleRead func(obj objectstore.Object) ([]byte, bool)

	mu                sync.Mutex
	calls, inflight   int
	failed            bool
	doneAtFailure     map[string]int // the target's copy PUTs per key when the failure happened
	inflightAtFailure int            // other copies in flight when the failure happened
	refusedNew        int            // CopyNew calls refused: the key was taken
}

// Copy copies obj from the source to dstKey in the target with meta.
func (c *memCopier) Copy(ctx context.Context, obj objectstore.Object, dstKey string, meta map[string]string) error {
	return c.copy(ctx, obj, dstKey, meta, false)
}

// CopyNew copies as Copy does if the target holds nothing under dstKey, and counts the copies
// refused because it did.
func (c *memCopier) CopyNew(ctx context.Context, obj objectstore.Object, dstKey string, meta map[string]string) error {
	err := c.copy(ctx, obj, dstKey, meta, true)
	if errors.Is(err, objectstore.ErrPreconditionFailed) {
		c.mu.Lock()
		c.refusedNew++
		c.mu.Unlock()
	}
	return err
}

func (c *memCopier) copy(ctx context.Context, obj objectstore.Object, dstKey string, meta map[string]string, ifNew bool) error {
	c.mu.Lock()
	c.calls++
	n := c.calls
	c.inflight++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inflight--
		c.mu.Unlock()
	}()
	if c.delay != nil {
		if d := c.delay(obj.Key); d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			}
		}
	}
	if c.before != nil {
		if err := c.before(ctx, obj.Key); err != nil {
			return err
		}
	}
	o, ok := c.src.Get(obj.Key)
	if c.staleRead != nil {
		if data, stale := c.staleRead(obj); stale {
			o, ok = memObject{Data: data, ETag: obj.ETag, LastModified: obj.LastModified}, true
		}
	}
	if !ok {
		return notExist("copy", obj.Key)
	}
	if o.ETag != obj.ETag {
		return fmt.Errorf("memcopier: %s: %w", obj.Key, objectstore.ErrSourceChanged)
	}
	fail := n == c.failOn
	if fail && !c.failAfterPut {
		return c.fail()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if ifNew {
		if _, err := c.dst.PutBytesIf(ctx, dstKey, o.Data, meta, ""); err != nil {
			return err
		}
	} else {
		c.dst.write(dstKey, o.Data, meta)
	}
	if fail {
		return c.fail()
	}
	return nil
}

func (c *memCopier) fail() error {
	done := c.dst.Puts("")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = true
	c.doneAtFailure = done
	c.inflightAtFailure = c.inflight - 1
	return errInjected
}

// RefusedNew returns how many CopyNew calls found their key taken.
func (c *memCopier) RefusedNew() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refusedNew
}

// Failure reports whether the injected failure happened, the target's PUTs per key at that
// moment, and how many other copies were in flight.
func (c *memCopier) Failure() (failed bool, doneAtFailure map[string]int, inflight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed, maps.Clone(c.doneAtFailure), c.inflightAtFailure
}
