//go:build !linux

package source

import "io/fs"

// dirReader is the Linux fast path for os.DirFS (osdir_linux.go); other
// systems read every file through the fs.FS.
type dirReader struct{}

func openDirReader(fs.FS, string) (*dirReader, bool) { return nil, false }

func (*dirReader) close() {}

func (*dirReader) read(string, string) ([]byte, error) { panic("unreachable") }
