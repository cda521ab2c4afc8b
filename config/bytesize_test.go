package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "1000", want: 1000},
		{in: "1000B", want: 1000},
		{in: "512KiB", want: 512 << 10},
		{in: "64MiB", want: 64 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "5GiB", want: 5 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "1PiB", want: 1 << 50},
		{in: "7EiB", want: 7 << 60},
		{in: "10MB", want: 10_000_000},
		{in: "1KB", want: 1000},
		{in: "3GB", want: 3_000_000_000},
		{in: "1TB", want: 1_000_000_000_000},
		{in: " 16 MiB ", want: 16 << 20},
		{in: "16mib", want: 16 << 20},
		{in: "-1GiB", want: -(1 << 30)}, // parses; Validate rejects it
		{in: "", wantErr: `invalid size ""`},
		{in: "GiB", wantErr: `invalid size "GiB"`},
		{in: "1.5GiB", wantErr: `unknown unit ".5GiB"`},
		{in: "1G", wantErr: `unknown unit "G"`},
		{in: "1 gigabyte", wantErr: `unknown unit "gigabyte"`},
		{in: "8EiB", wantErr: "overflows"},
		{in: "99999999999999999999", wantErr: "invalid size"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1000"},
		{1024, "1KiB"},
		{1536, "1536"},
		{1536 * KiB, "1536KiB"},
		{64 * MiB, "64MiB"},
		{GiB, "1GiB"},
		{5 * GiB, "5GiB"},
		{1024 * GiB, "1TiB"},
		{10_000_000, "10000000"},
		{-GiB, "-1GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.in.String())
			back, err := ParseByteSize(tt.in.String())
			require.NoError(t, err)
			assert.Equal(t, tt.in, back, "String then Parse round-trips")
		})
	}
}
