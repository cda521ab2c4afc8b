package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes. In bdr.yaml it is written as an integer or
// as a string with a unit: "1GiB", "64MiB", "512KiB" (IEC, powers of 1024),
// "10MB" (SI, powers of 1000) or "1000" / "1000B" (bytes).
type ByteSize int64

// Common sizes.
const (
	B   ByteSize = 1
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
	PiB ByteSize = 1 << 50
	EiB ByteSize = 1 << 60
)

type unit struct {
	name string
	size ByteSize
}

// iecUnits is ordered largest first so String picks the largest exact unit.
func iecUnits() [6]unit {
	return [...]unit{{"EiB", EiB}, {"PiB", PiB}, {"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}}
}

// unitSize maps unit names to their size. Units are matched
// case-insensitively because "gib" in a config file is never meant as anything
// else; bare "k"/"m"/"g" are refused because they are ambiguous (1000 or 1024?).
func unitSize(unit string) (ByteSize, bool) {
	switch strings.ToLower(unit) {
	case "", "b":
		return 1, true
	case "kb":
		return 1e3, true
	case "mb":
		return 1e6, true
	case "gb":
		return 1e9, true
	case "tb":
		return 1e12, true
	case "pb":
		return 1e15, true
	case "eb":
		return 1e18, true
	}
	for _, u := range iecUnits() {
		if strings.EqualFold(unit, u.name) {
			return u.size, true
		}
	}
	return 0, false
}

// ParseByteSize parses an integer number of bytes with an optional unit, as
// accepted in bdr.yaml: "1GiB", "64MiB", "512KiB", "10MB", "1000", "1000B".
// Whitespace between number and unit is allowed; fractions are not, so every
// accepted value is exact.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	if i < len(t) && (t[i] == '-' || t[i] == '+') {
		i++
	}
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: want an integer with an optional unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s)
	}
	mult, ok := unitSize(unit)
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (use B, KiB, MiB, GiB, TiB, PiB, EiB, KB, MB, GB, TB, PB, EB)", s, unit)
	}
	if n > math.MaxInt64/int64(mult) || n < math.MinInt64/int64(mult) {
		return 0, fmt.Errorf("invalid size %q: overflows int64 bytes", s)
	}
	return ByteSize(n) * mult, nil
}

// String prints the size in the largest IEC unit that divides it exactly
// ("1GiB", "64MiB"), or as a plain byte count ("1000") when none does, so
// that ParseByteSize(b.String()) == b always holds.
func (b ByteSize) String() string {
	if b == 0 {
		return "0"
	}
	for _, u := range iecUnits() {
		if b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}
