package lock

import (
	"os"
	"strings"
	"sync"
)

// processSpace names the PID namespace this process lives in, on this boot
// of this kernel: "<boot id>.<pid namespace inode>", "" when either cannot
// be read. Two runners can only check each other's pids with kill(pid, 0)
// when their spaces are equal: a container on the host network, or a pod
// sharing its node's name, has the same hostname but other pids.
var processSpace = sync.OnceValue(func() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	// "pid:[4026531836]" → "4026531836"
	ns = strings.TrimSuffix(strings.TrimPrefix(ns, "pid:["), "]")
	id := strings.ReplaceAll(strings.TrimSpace(string(boot)), "-", "")
	if id == "" || ns == "" || strings.ContainsAny(id+ns, ". ") {
		return ""
	}
	return id + "." + ns
})

// tokenSpace returns the process space recorded in a holder token, "" for
// a token without one (an older fleetgate, or /proc unreadable).
func tokenSpace(token string) string {
	_, space, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	return space
}
