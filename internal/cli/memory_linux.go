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
// again is mapped back in on its first touch.
//
// Only mappings with no private dirty page are dropped. A read-only
// mapping can still hold pages that differ from the file: the loader's
// relocations of a dynamically linked or static-PIE binary are written
// into RELRO before it is made read-only, and MADV_DONTNEED would put the
// file's unrelocated bytes back (the C parser then jumps through a null
// pointer). Writable mappings are never touched for the same reason.
func dropExecutablePages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	defer f.Close()
	type span struct {
		start, end uintptr
		dirty      bool
	}
	var spans []span
	var cur *span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if name, value, ok := strings.Cut(fields[0], ":"); ok && value == "" && !strings.Contains(name, "-") {
			// A field of the current mapping ("Private_Dirty:  4 kB").
			if cur != nil && name == "Private_Dirty" && len(fields) > 1 && fields[1] != "0" {
				cur.dirty = true
			}
			continue
		}
		// A mapping's header: start-end perms offset dev inode path.
		cur = nil
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
		spans = append(spans, span{start: uintptr(start), end: uintptr(end)})
		cur = &spans[len(spans)-1]
	}
	if sc.Err() != nil {
		return
	}
	// Advise after reading: the scan itself runs code of these mappings.
	for _, s := range spans {
		if !s.dirty {
			_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, s.start, s.end-s.start, syscall.MADV_DONTNEED)
		}
	}
}
