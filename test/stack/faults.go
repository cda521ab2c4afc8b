package stack

// The fault layer: one TCP proxy in front of each region's object store and database and of
// the Temporal frontend, through which the worker (and bdr, except for Temporal) reach them.
//
// Why Toxiproxy, in-process: it runs on any laptop and in CI without root, network namespaces
// or a separate binary to download; its faults are per connection and change on a live
// connection; and cut, "no answer" (timeout 0), reset (reset_peer) and latency are its
// built-ins, tested by its authors rather than by us.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"
)

// Target names one proxied peer of the worker.
type Target string

// TemporalFrontend is the Temporal frontend as the worker reaches it. bdr and the tests reach
// Temporal directly, so a test can cut the worker off (a zombie) and still drive workflows.
const TemporalFrontend Target = "temporal"

// StoreOf is a region's object store as the worker and bdr reach it.
func StoreOf(region string) Target { return Target("store-" + region) }

// DatabaseOf is a region's database (stand-in) as the worker and bdr reach it.
func DatabaseOf(region string) Target { return Target("database-" + region) }

// Traffic is what crossed one proxy since it started: TCP connections it opened to the peer,
// bytes it delivered to the peer and bytes it delivered back to the clients. Bytes held back
// by a fault are not counted, so zero Sent means no request reached the peer.
type Traffic struct {
	Conns    int64
	Sent     int64
	Received int64
}

// Faults is the fault layer of a stack: one proxy per Target, each healthy until told
// otherwise. At most one fault is active on a target; a new one replaces the last. It is safe
// for concurrent use.
type Faults struct {
	mu      sync.Mutex
	server  *toxiproxy.ApiServer
	proxies map[Target]*faultProxy
}

type faultProxy struct {
	tp      *toxiproxy.Proxy
	addr    string   // host:port the clients use; kept across Cut and Heal
	cut     bool     // stopped by Cut; Heal listens again
	hold    int      // while cut, a socket bound to addr but not listening (-1 otherwise)
	toxics  []string // names of the active fault's toxics
	counter int      // generation of the byte-counting toxics (see recount)
	traffic *trafficCounters
	id      string
}

type trafficCounters struct{ conns, sent, received atomic.Int64 }

// counters maps a proxy's id to its counters: toxiproxy builds toxics from JSON by reflection,
// so a counting toxic finds its counters by name rather than by pointer.
var counters sync.Map

var proxySeq atomic.Int64

func init() {
	toxics.Register("bdr_count_bytes", new(countBytes))
	toxics.Register("bdr_count_conns", new(countConns))
}

// NewFaults returns an empty fault layer; Add puts a proxy in it.
func NewFaults() *Faults {
	return &Faults{
		server:  toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		proxies: map[Target]*faultProxy{},
	}
}

// Add starts a proxy for target on a free loopback port in front of upstream (host:port) and
// returns the address clients should use instead.
func (f *Faults) Add(target Target, upstream string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.proxies[target]; ok {
		return "", fmt.Errorf("faults: %s: already proxied", target)
	}
	p := &faultProxy{hold: -1, traffic: &trafficCounters{}, id: fmt.Sprintf("%s#%d", target, proxySeq.Add(1))}
	counters.Store(p.id, p.traffic)
	p.tp = toxiproxy.NewProxy(f.server, string(target), "127.0.0.1:0", upstream)
	// Counting toxics go in before any connection exists, so that each connection's state is
	// made exactly once (that is how connections are counted).
	if err := p.addToxic("bdr_count_conns", "conns", "upstream", map[string]any{"counter": p.id}); err != nil {
		return "", err
	}
	if err := p.recount(); err != nil {
		return "", err
	}
	if err := p.tp.Start(); err != nil {
		return "", fmt.Errorf("faults: start proxy %s: %w", target, err)
	}
	p.addr = p.tp.Listen
	f.proxies[target] = p
	return p.addr, nil
}

// Addr returns the address the clients of target use.
func (f *Faults) Addr(target Target) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.proxies[target]; ok {
		return p.addr
	}
	return ""
}

// Cut makes target unreachable: open connections are closed and new ones are refused, as when
// a region's network is gone.
func (f *Faults) Cut(target Target) error {
	return f.apply(target, func(p *faultProxy) error {
		p.tp.Stop() // closes the listener and every open connection
		p.cut = true
		// Hold the port without listening: connecting is refused, and no other process can
		// take the port before Heal listens on it again.
		fd, err := holdPort(p.addr)
		if err != nil {
			return fmt.Errorf("faults: cut %s: %w", target, err)
		}
		p.hold = fd
		return nil
	})
}

// Blackhole makes target silent: connections are accepted, open ones stay open, and nothing
// crosses in either direction (Toxiproxy's timeout toxic with timeout 0), so a client waits
// until its own deadline, as behind a dropped route.
func (f *Faults) Blackhole(target Target) error {
	return f.apply(target, func(p *faultProxy) error {
		return p.both("timeout", "blackhole", map[string]any{"timeout": 0})
	})
}

// Reset resets every connection to target as soon as data crosses it (Toxiproxy's
// reset_peer): a client gets "connection reset by peer" at once. Connections opened before
// Reset are closed rather than reset (toxiproxy sets SO_LINGER 0 only when a link starts).
func (f *Faults) Reset(target Target) error {
	return f.apply(target, func(p *faultProxy) error {
		return p.both("reset_peer", "reset", map[string]any{"timeout": 0})
	})
}

// Delay adds d to every answer from target (Toxiproxy's latency toxic on the way back), so
// every round trip takes d longer.
func (f *Faults) Delay(target Target, d time.Duration) error {
	return f.apply(target, func(p *faultProxy) error {
		if err := p.addToxic("latency", "delay", "downstream", map[string]any{"latency": d.Milliseconds()}); err != nil {
			return err
		}
		p.toxics = append(p.toxics, "delay")
		return p.recount()
	})
}

// Heal takes the fault off target: it answers normally again. Healing a healthy target does
// nothing.
func (f *Faults) Heal(target Target) error {
	return f.apply(target, func(*faultProxy) error { return nil })
}

// HealAll takes every fault off.
func (f *Faults) HealAll() error {
	var errs []error
	for _, target := range f.targets() {
		errs = append(errs, f.Heal(target))
	}
	return errors.Join(errs...)
}

// Traffic returns what crossed target's proxy so far.
func (f *Faults) Traffic(target Target) Traffic {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.proxies[target]
	if !ok {
		return Traffic{}
	}
	return Traffic{Conns: p.traffic.conns.Load(), Sent: p.traffic.sent.Load(), Received: p.traffic.received.Load()}
}

// Bytes returns the bytes that crossed target's proxy so far, both ways.
func (f *Faults) Bytes(target Target) int64 {
	t := f.Traffic(target)
	return t.Sent + t.Received
}

// Close stops every proxy; it is safe to call more than once.
func (f *Faults) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for target, p := range f.proxies {
		p.tp.Stop()
		p.unhold()
		counters.Delete(p.id)
		delete(f.proxies, target)
	}
}

func (f *Faults) targets() []Target {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ts []Target
	for t := range f.proxies {
		ts = append(ts, t)
	}
	return ts
}

// apply heals target, then applies fault (nil-safe) to it.
func (f *Faults) apply(target Target, fault func(*faultProxy) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.proxies[target]
	if !ok {
		return fmt.Errorf("faults: unknown target %q", target)
	}
	if err := p.heal(); err != nil {
		return err
	}
	return fault(p)
}

func (p *faultProxy) heal() error {
	for _, name := range p.toxics {
		if err := p.tp.Toxics.RemoveToxic(context.Background(), name); err != nil {
			return fmt.Errorf("faults: heal %s: remove %s: %w", p.tp.Name, name, err)
		}
	}
	p.toxics = nil
	if p.cut {
		p.unhold()
		if err := p.tp.Start(); err != nil {
			return fmt.Errorf("faults: heal %s: listen on %s again: %w", p.tp.Name, p.addr, err)
		}
		p.cut = false
	}
	return nil
}

func (p *faultProxy) unhold() {
	if p.hold >= 0 {
		_ = syscall.Close(p.hold)
		p.hold = -1
	}
}

// both adds a toxic of kind in both directions, named name_up and name_down.
func (p *faultProxy) both(kind, name string, attrs map[string]any) error {
	for _, dir := range []string{"upstream", "downstream"} {
		n := name + "_" + dir
		if err := p.addToxic(kind, n, dir, attrs); err != nil {
			return err
		}
		p.toxics = append(p.toxics, n)
	}
	return p.recount()
}

// recount puts fresh byte-counting toxics at the end of both chains and removes the old ones:
// toxiproxy appends every new toxic, and bytes are counted where they leave the proxy, after
// the fault. The new counters go in before the old come out, so a byte may be counted twice
// for a moment but never missed.
func (p *faultProxy) recount() error {
	p.counter++
	for _, dir := range []string{"upstream", "downstream"} {
		if err := p.addToxic("bdr_count_bytes", fmt.Sprintf("bytes_%s_%d", dir, p.counter), dir,
			map[string]any{"counter": p.id, "direction": dir}); err != nil {
			return err
		}
	}
	if p.counter == 1 {
		return nil
	}
	for _, dir := range []string{"upstream", "downstream"} {
		if err := p.tp.Toxics.RemoveToxic(context.Background(), fmt.Sprintf("bytes_%s_%d", dir, p.counter-1)); err != nil {
			return fmt.Errorf("faults: %s: remove old counter: %w", p.tp.Name, err)
		}
	}
	return nil
}

func (p *faultProxy) addToxic(kind, name, stream string, attrs map[string]any) error {
	body, err := json.Marshal(map[string]any{"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if err != nil {
		return err
	}
	if _, err := p.tp.Toxics.AddToxicJson(strings.NewReader(string(body))); err != nil {
		return fmt.Errorf("faults: %s: add %s toxic %s: %w", p.tp.Name, kind, name, err)
	}
	return nil
}

// holdPort binds a TCP socket to addr without listening on it.
func holdPort(addr string) (int, error) {
	tcp, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return -1, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("hold port %s: %w", addr, err)
	}
	// As Go's listeners do, so that connections of the proxy's past in TIME_WAIT don't block it.
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		_ = syscall.Close(fd)
		return -1, fmt.Errorf("hold port %s: %w", addr, err)
	}
	sa := &syscall.SockaddrInet4{Port: tcp.Port}
	copy(sa.Addr[:], tcp.IP.To4())
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return -1, fmt.Errorf("hold port %s: %w", addr, err)
	}
	return fd, nil
}

// countBytes passes data through unchanged and counts it into the named proxy's counters.
type countBytes struct {
	Counter   string `json:"counter"`
	Direction string `json:"direction"`
}

func (c *countBytes) Pipe(stub *toxics.ToxicStub) {
	var n *atomic.Int64
	if v, ok := counters.Load(c.Counter); ok {
		if c.Direction == "upstream" {
			n = &v.(*trafficCounters).sent
		} else {
			n = &v.(*trafficCounters).received
		}
	}
	for {
		select {
		case <-stub.Interrupt:
			return
		case chunk := <-stub.Input:
			if chunk == nil {
				stub.Close()
				return
			}
			if n != nil {
				n.Add(int64(len(chunk.Data)))
			}
			stub.Output <- chunk
		}
	}
}

// countConns passes data through unchanged; toxiproxy makes its state once per new
// connection, which is when it counts one.
type countConns struct {
	Counter string `json:"counter"`
}

func (c *countConns) NewState() any {
	if v, ok := counters.Load(c.Counter); ok {
		v.(*trafficCounters).conns.Add(1)
	}
	return nil
}

func (c *countConns) Pipe(stub *toxics.ToxicStub) { new(toxics.NoopToxic).Pipe(stub) }
