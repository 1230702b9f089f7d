package source

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"syscall"
)

// osDirFS is the type os.DirFS returns: a string holding the root.
var osDirFS = reflect.TypeOf(os.DirFS("."))

// dirReader reads the migration files of an os.DirFS directory with three
// system calls each (openat relative to the directory, fstat, read) plus
// the close. Through os.File every file also costs a stat before the open,
// four fcntl calls and a failed epoll_ctl (os tries to register every file
// with the network poller), and a last read that returns nothing: on a
// no-op `up`, which every instance of a fleet runs at every start and
// which must read every applied file to verify its checksum, that was a
// thousand files times ten system calls, a quarter of the process's CPU.
type dirReader struct {
	fd int // the migrations directory
}

// openDirReader returns a reader for dir of fsys when fsys is an os.DirFS
// on Linux; ok is false when it is not (embed.FS, fstest.MapFS, a wrapper)
// or the directory cannot be opened, and the caller reads through fsys.
func openDirReader(fsys fs.FS, dir string) (r *dirReader, ok bool) {
	v := reflect.ValueOf(fsys)
	if v.Type() != osDirFS || !fs.ValidPath(dir) {
		return nil, false
	}
	root := v.String()
	if root == "" {
		return nil, false // os.DirFS("") opens nothing; let it say so
	}
	fd, err := syscall.Open(root+"/"+dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	return &dirReader{fd: fd}, true
}

func (r *dirReader) close() { _ = syscall.Close(r.fd) }

// read reads the regular file base of the directory (its directory entry
// said so); file is the name errors carry. Anything else (a symbolic link,
// a file system that does not report types) is read by readFile, which
// stats before it opens, so that a FIFO or a device is never opened.
func (r *dirReader) read(base, file string) ([]byte, error) {
	// O_NONBLOCK: a file replaced by a FIFO since the directory was listed
	// must not block the open; fstat refuses it below.
	fd, err := openat(r.fd, base, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOCTTY|syscall.O_NONBLOCK)
	if err != nil {
		return nil, pathErr("open", file, err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := fstat(fd, &st); err != nil {
		return nil, pathErr("stat", file, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, &Error{File: file, Msg: "not a regular file"}
	}
	if st.Size > MaxFileSize {
		return nil, &Error{File: file, Msg: sizeMsg(st.Size)}
	}
	// Room for one byte more than the size: a file that grew since the
	// fstat is read on to its end (and refused past the limit); one that
	// did not is complete when the first read returns its size, without
	// a last read to see the end.
	buf := make([]byte, 0, st.Size+1)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), MaxFileSize+1-len(buf)))
		}
		n, err := readFD(fd, buf[len(buf):cap(buf)])
		if err != nil {
			return nil, pathErr("read", file, err)
		}
		buf = buf[:len(buf)+n]
		if len(buf) > MaxFileSize {
			return nil, &Error{File: file, Msg: sizeMsg(int64(len(buf)))}
		}
		if n == 0 || len(buf) == int(st.Size) {
			return buf, nil
		}
	}
}

func pathErr(op, file string, err error) error {
	return &fs.PathError{Op: op, Path: file, Err: err}
}

// The calls below retry on EINTR, as os does: the Go runtime's own
// signals (goroutine preemption) may interrupt them.

func openat(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := syscall.Openat(dirfd, name, flags, 0)
		if !errors.Is(err, syscall.EINTR) {
			return fd, err
		}
	}
}

func fstat(fd int, st *syscall.Stat_t) error {
	for {
		err := syscall.Fstat(fd, st)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func readFD(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, p)
		if !errors.Is(err, syscall.EINTR) {
			return max(n, 0), err
		}
	}
}
