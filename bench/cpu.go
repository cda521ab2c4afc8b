package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Processes whose CPU time is counted around every run, in the order the table shows them.
var cpuProcesses = []string{"minio-src", "minio-dst", "worker", "temporal", "rclone", "bench"}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux Go runs on.
const clockTicks = 100

// cpuSnapshot is the CPU time (user + system) each process has used since it started.
type cpuSnapshot map[string]time.Duration

// minus returns the CPU seconds used between two snapshots, per process; processes that used
// none are left out.
func (s cpuSnapshot) minus(before cpuSnapshot) map[string]float64 {
	out := map[string]float64{}
	for name, t := range s {
		if d := (t - before[name]).Seconds(); d > 0.005 {
			out[name] = d
		}
	}
	return out
}

// cpu reads the CPU time of the stack's servers, the worker, the rclone runs and this
// process. The servers are found by their command lines (the stack keeps their handles to
// itself); a process that cannot be found is left out.
func (e *env) cpu() cpuSnapshot {
	match := map[string][]string{
		"minio-src": {"server", e.src.DataDir},
		"minio-dst": {"server", e.dst.DataDir},
		"worker":    {filepath.Join(e.stack.BinDir, "bdr-worker"), e.stack.ConfigPath},
		"temporal":  {"start-dev", e.stack.Temporal.Address[strings.LastIndex(e.stack.Temporal.Address, ":")+1:]},
	}
	snap := cpuSnapshot{"rclone": e.rcloneCPU}
	if t, ok := procCPU("self"); ok {
		snap["bench"] = t
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
		for name, want := range match {
			if hasAll(args, want) {
				if t, ok := procCPU(filepath.Base(dir)); ok {
					snap[name] += t
				}
			}
		}
	}
	return snap
}

// workerRunning reports whether the worker process is alive, so that a worker that died at
// start fails a run at once instead of after its timeout.
func (e *env) workerRunning() bool {
	want := []string{filepath.Join(e.stack.BinDir, "bdr-worker"), e.stack.ConfigPath}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		if hasAll(strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00"), want) {
			stat, err := os.ReadFile(filepath.Join(dir, "stat"))
			// A zombie (state Z) has exited but not been reaped yet.
			if i := bytes.LastIndexByte(stat, ')'); err == nil && i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z' {
				return true
			}
		}
	}
	return false
}

// hasAll reports whether every wanted string is one of args.
func hasAll(args, want []string) bool {
	for _, w := range want {
		found := false
		for _, a := range args {
			if a == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// procCPU returns utime + stime of a process from /proc/<pid>/stat.
func procCPU(pid string) (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces; the fields after its ')' do not.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0, false
	}
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}
