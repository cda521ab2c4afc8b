package units

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0:               "0 B",
		1023:            "1023 B",
		1024:            "1.0 KiB",
		1536:            "1.5 KiB",
		1<<20 - 1:       "1024.0 KiB", // never "1.0 MiB" for less than a MiB
		2<<20 + 100<<10: "2.1 MiB",
		12345678901:     "11.5 GiB",
		5<<40 + 512<<30: "5.5 TiB",
		7 << 60:         "7.0 EiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
