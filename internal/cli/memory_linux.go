package cli

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
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
// Only mappings with no private copy of a page are dropped. A read-only
// mapping can still hold pages that differ from the file: the loader's
// relocations of a dynamically linked or static-PIE binary are written
// into RELRO before it is made read-only, and MADV_DONTNEED would put the
// file's unrelocated bytes back (the C parser then jumps through a null
// pointer). Such a copied page is anonymous memory ("Anonymous" in smaps).
// "Private_Dirty" is not the test: it also counts the page cache's own
// dirty pages, which is every page of an executable written less than
// about 30 s before (the kernel's writeback delay), so a freshly built or
// copied binary kept all of them. Writable mappings are never touched.
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
		copied     bool
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
			// A field of the current mapping ("Anonymous:  4 kB").
			if cur != nil && name == "Anonymous" && len(fields) > 1 && fields[1] != "0" {
				cur.copied = true
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
		if !s.copied {
			_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, s.start, s.end-s.start, syscall.MADV_DONTNEED)
		}
	}
}

// keepExecutablePagesDropped calls dropExecutablePages now and then again,
// checking every interval, whenever the resident file-backed pages have
// grown back by more than regrowth bytes since the last drop: the first
// drop comes while the command starts and the background work winds down,
// and each later heartbeat of the instance registry runs the database
// client again; the kernel maps a whole large folio of the executable on
// each touch, so a few dozen touches were megabytes again within a second.
// Checking costs one read of /proc/self/statm. It ends when done is
// closed.
func keepExecutablePagesDropped(done <-chan struct{}, interval time.Duration, regrowth int64) {
	dropExecutablePages()
	base, ok := residentFilePages()
	if !ok {
		return
	}
	page := int64(os.Getpagesize())
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			n, ok := residentFilePages()
			if !ok {
				return
			}
			if (n-base)*page <= regrowth {
				continue
			}
			dropExecutablePages()
			// What a drop cannot take (libc, a page with a relocation)
			// stays in the base, so it is not dropped again and again.
			if base, ok = residentFilePages(); !ok {
				return
			}
		}
	}()
}

// residentFilePages is the third field of /proc/self/statm: resident pages
// backed by a file (the executable, libc) or shared memory.
func residentFilePages() (int64, bool) {
	var buf [128]byte
	fd, err := syscall.Open("/proc/self/statm", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer syscall.Close(fd)
	n, err := syscall.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return 0, false
	}
	f := bytes.Fields(buf[:n])
	if len(f) < 3 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(f[2]), 10, 64)
	return v, err == nil
}
