package main

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// newTracer returns the tracer for Temporal's tracing interceptor: spans of every workflow
// and activity exported over OTLP/gRPC to endpoint, or a tracer that records nothing when
// endpoint is empty. shutdown flushes what is buffered.
func newTracer(ctx context.Context, endpoint, service string) (tracer trace.Tracer, shutdown func(context.Context) error, err error) {
	if endpoint == "" {
		return noop.NewTracerProvider().Tracer(service), func(context.Context) error { return nil }, nil
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(endpoint)}
	if !strings.Contains(endpoint, "://") {
		opts = []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint)}
	}
	exporter, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry.otlp_endpoint %s: %w", endpoint, err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))))
	return provider.Tracer(service), provider.Shutdown, nil
}
