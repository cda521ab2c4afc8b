package e2e

import (
	"context"
	"net"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/prototext"
)

// traceSink is a minimal OTLP/gRPC trace receiver: what a collector would get from the worker.
type traceSink struct {
	coltrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans map[string]int
	text  []byte // every request, as text, to scan for secrets
}

func startTraceSink(t *testing.T) (*traceSink, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &traceSink{spans: map[string]int{}}
	srv := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(srv, sink)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return sink, "http://" + l.Addr().String()
}

func (s *traceSink) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, span := range ss.Spans {
				s.spans[span.Name]++
			}
		}
	}
	s.text = append(s.text, prototext.Format(req)...)
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func (s *traceSink) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spans[name]
}

func (s *traceSink) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.text)
}
