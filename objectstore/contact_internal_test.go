package objectstore

import (
	"testing"
	"time"
)

// TestContactLog: an answer clears the silence; only the first failure after the last answer
// counts; an answer that arrives late (a slow response finishing after a failure seen
// earlier) still proves the store alive at its time.
func TestContactLog(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var l contactLog
	check := func(step string, answered, silent time.Time) {
		t.Helper()
		a, s := l.times()
		if !a.Equal(answered) || !s.Equal(silent) {
			t.Errorf("%s: answered %v silent %v, want %v %v", step, a.Sub(t0), s.Sub(t0), answered.Sub(t0), silent.Sub(t0))
		}
	}
	l.observe(true, at(10))
	check("answered", at(10), time.Time{})
	l.observe(false, at(20))
	l.observe(false, at(30))
	check("silent", at(10), at(20))
	l.observe(true, at(25))
	check("a later answer clears the silence", at(25), time.Time{})
	l.observe(false, at(22))
	check("a failure before the last answer is old news", at(25), time.Time{})
	l.observe(true, at(5))
	check("an answer older than the last one changes nothing", at(25), time.Time{})
	l.observe(false, at(40))
	check("silent again", at(25), at(40))
}
