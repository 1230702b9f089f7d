package cli

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// dropExecutablePages takes this process's read-only mappings of its own
// executable (code and constant data) out of its page tables. Migrating
// touches most of a large binary (the driver, the SQL parser and its
// tables), and those pages would count in fleetgate's resident memory for
// the whole life of the command it runs beside, though the few it still
// needs (signal forwarding, the registry's heartbeat) are a small part.
// The pages stay in the page cache, clean and shared; one that is used
// again is mapped back in on its first touch. Writable mappings are never
// touched: MADV_DONTNEED would discard their changes.
func dropExecutablePages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	type span struct{ start, end uintptr }
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || fields[1][1] == 'w' || fields[1][3] != 'p' {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	// Advise after reading: the scan itself runs code of these mappings.
	for _, s := range spans {
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, s.start, s.end-s.start, syscall.MADV_DONTNEED)
	}
}
