package config

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// The default of sandbox.max_total_memory_mb: a quarter of the memory the
// server may use, never less than minTotalSandboxMB, and
// unknownTotalSandboxMB where that memory cannot be read.
const (
	minTotalSandboxMB     = 1024
	unknownTotalSandboxMB = 4096
)

// DefaultTotalSandboxMB is the default budget for the memory of all
// sandboxed instances together, in MiB: a quarter of the machine's memory
// (MemTotal in /proc/meminfo) or of the server's control group limit when
// that is lower, at least 1024; 4096 where neither can be read.
func DefaultTotalSandboxMB() int {
	meminfo, _ := os.ReadFile("/proc/meminfo")
	limits := make([]string, 0, 2)
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			limits = append(limits, string(b))
		}
	}
	return totalSandboxMB(string(meminfo), limits...)
}

// totalSandboxMB computes the default budget from the text of
// /proc/meminfo and of the control group limit files.
func totalSandboxMB(meminfo string, cgroupLimits ...string) int {
	var bytes int64
	sc := bufio.NewScanner(strings.NewReader(meminfo))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil && kb > 0 {
				bytes = kb << 10
			}
		}
	}
	for _, l := range cgroupLimits {
		// "max" (v2) or a huge number (v1) mean no limit.
		n, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64)
		if err == nil && n > 0 && (bytes == 0 || n < bytes) {
			bytes = n
		}
	}
	if bytes == 0 {
		return unknownTotalSandboxMB
	}
	return int(max(bytes/4>>20, minTotalSandboxMB))
}
