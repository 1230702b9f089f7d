package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

type fileKind uint8

const (
	filePlain fileKind = iota // <version>_<name>.sql, fleetgate format
	fileUp                    // <version>_<name>.up.sql, golang-migrate
	fileDown                  // <version>_<name>.down.sql, golang-migrate
)

type fileName struct {
	version int64
	name    string
	kind    fileKind
}

// parseFileName parses a base name ending in ".sql". It is strict because a
// misnamed file that were silently skipped would be a migration that never
// runs, discovered only in production.
func parseFileName(base string) (fileName, error) {
	var fn fileName
	stem, ok := strings.CutSuffix(base, ".sql")
	if !ok {
		return fn, errors.New(`migration file names must end in ".sql"`)
	}
	switch {
	case strings.HasSuffix(stem, ".up"):
		stem, fn.kind = stem[:len(stem)-len(".up")], fileUp
	case strings.HasSuffix(stem, ".down"):
		stem, fn.kind = stem[:len(stem)-len(".down")], fileDown
	}
	digits, name, ok := strings.Cut(stem, "_")
	if !ok || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return fn, errors.New(`file name must be <version>_<name>.sql with a numeric version`)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return fn, fmt.Errorf("version %s does not fit in a 64-bit integer", digits)
	}
	if v == 0 {
		return fn, errors.New("version must be a positive integer, not 0")
	}
	if name == "" {
		return fn, errors.New("file name has no name after the version")
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, isControl) {
		return fn, fmt.Errorf("file name %q contains control characters or invalid UTF-8", base)
	}
	fn.version, fn.name = v, name
	return fn, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }

// Load reads every migration in dir of fsys (not its subdirectories) and
// returns them sorted by version, numerically: "10_x.sql" comes after
// "9_y.sql". It detects the format (LoadFormat with FormatAuto).
func Load(fsys fs.FS, dir string) ([]*Migration, error) {
	ms, _, err := LoadFormat(fsys, dir, FormatAuto)
	return ms, err
}

// LoadFormat reads every migration in dir of fsys (not its subdirectories)
// in format f, and returns them sorted by version, numerically, with the
// format it read. FormatAuto detects the format from the files: goose and
// dbmate files by their markers, golang-migrate by its .up.sql/.down.sql
// names, fleetgate otherwise. The fleetgate format and the golang-migrate
// layout may be mixed in one directory (fleetgate has always read both);
// any other mix is an error naming the odd file.
//
// Files that do not end in ".sql" (README.md, directories) and hidden files
// are ignored. A ".sql" file with a malformed name is an error rather than
// being skipped, so that a typo cannot make a migration silently disappear.
//
// Every file is validated before LoadFormat returns, so a caller gets all
// migrations or none. The first problem found is returned: an *Error for a
// malformed file, or a wrapped fs error when the directory or a file cannot
// be read. All names (in name order) and version clashes are checked before
// any content is read, then contents in version order, so the same tree
// always gives the same error and a misnamed file is reported without
// reading hundreds of others first.
func LoadFormat(fsys fs.FS, dir string, f Format) ([]*Migration, Format, error) {
	return LoadDialect(fsys, dir, f, dialect.Postgres)
}

// LoadDialect is LoadFormat with the statements split by the lexical rules
// of dialect d (see SplitDialect): the caller knows which database the
// migrations are for, and MySQL's backslash escapes, # comments and
// DELIMITER blocks would be misread by PostgreSQL's rules.
func LoadDialect(fsys fs.FS, dir string, f Format, d dialect.Dialect) ([]*Migration, Format, error) {
	return load(fsys, dir, f, d, nil)
}

// load is LoadDialect and, with applied, LoadVerified.
func load(fsys fs.FS, dir string, f Format, d dialect.Dialect, applied func() map[int64]Applied) ([]*Migration, Format, error) {
	lx := lexFor(d)
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, f, fmt.Errorf("read migrations directory: %w", err)
	}
	// Entry names are plain names and a valid dir is already clean, so
	// the names are joined without path.Join's cleaning (an allocation
	// per file on every start); any other dir goes through path.Join.
	join := func(base string) string { return path.Join(dir, base) }
	switch {
	case dir == ".":
		join = func(base string) string { return base }
	case fs.ValidPath(dir):
		join = func(base string) string { return dir + "/" + base }
	}
	groups := make(map[int64]*group, len(entries))
	var goFiles []string
	for _, e := range entries {
		base := e.Name()
		if !strings.HasPrefix(base, ".") && !e.IsDir() && strings.HasSuffix(base, ".go") && goMigrationName().MatchString(base) {
			goFiles = append(goFiles, join(base))
		}
		if strings.HasPrefix(base, ".") || e.IsDir() || !strings.HasSuffix(strings.ToLower(base), ".sql") {
			continue
		}
		file := join(base)
		fn, err := parseFileName(base)
		if err != nil {
			return nil, f, &Error{File: file, Msg: err.Error()}
		}
		if err := checkFormat(f, file, fn.kind); err != nil {
			return nil, f, err
		}
		g := groups[fn.version]
		if g == nil {
			g = &group{}
			groups[fn.version] = g
		}
		if fn.kind == fileDown {
			if g.down != "" {
				return nil, f, &Error{File: file, Msg: fmt.Sprintf("duplicate version %d: also in %s", fn.version, g.down)}
			}
			g.down, g.downName, g.downReg = file, fn, e.Type().IsRegular()
			continue
		}
		if g.up != "" {
			return nil, f, &Error{File: file, Msg: fmt.Sprintf("duplicate version %d: also in %s", fn.version, g.up)}
		}
		g.up, g.upName, g.upReg = file, fn, e.Type().IsRegular()
	}

	versions := make([]int64, 0, len(groups))
	for v := range groups {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	for _, v := range versions {
		g := groups[v]
		switch {
		case g.down == "":
		case g.up == "":
			return nil, f, &Error{File: g.down, Msg: fmt.Sprintf("no matching %d_<name>.up.sql for this .down.sql file", v)}
		case g.upName.kind == filePlain:
			return nil, f, &Error{File: g.down, Msg: fmt.Sprintf("duplicate version %d: also in %s, which is not a .up.sql file", v, g.up)}
		}
	}

	// Read everything, then settle the format, then parse: a directory is
	// of one format, so a goose file is not reported as a fleetgate file
	// missing its markers.
	if err := readAll(fsys, dir, versions, groups, applied != nil); err != nil {
		return nil, f, err
	}
	detected, firstFile := f, ""
	for _, v := range versions {
		g := groups[v]
		if f != FormatAuto {
			continue
		}
		ff := detectFile(g.upName.kind, g.upData)
		switch {
		case firstFile == "":
			detected, firstFile = ff, g.up
		case family(ff) != family(detected):
			return nil, f, mixedFormats(g.up, ff, firstFile, detected)
		case ff != detected:
			detected = FormatFleetgate // both layouts, read as fleetgate
		}
	}
	if detected == FormatAuto {
		detected = FormatFleetgate
	}
	if detected == FormatGoose && len(goFiles) > 0 {
		return nil, detected, &Error{File: goFiles[0], Msg: "goose Go migrations cannot be run by fleetgate; rewrite it as a .sql migration"}
	}

	var known map[int64]Applied
	if applied != nil && (detected == FormatFleetgate || detected == FormatGolangMigrate) {
		known = applied()
	}
	migrations := make([]*Migration, 0, len(versions))
	for _, v := range versions {
		g := groups[v]
		var m *Migration
		if a, ok := known[v]; ok {
			if m = verified(g, a); m != nil {
				migrations = append(migrations, m)
				continue
			}
		}
		switch detected {
		case FormatGoose:
			m, err = parseGoose(g.up, g.upName, g.upData, lx)
		case FormatDbmate:
			m, err = parseDbmate(g.up, g.upName, g.upData, lx)
		default:
			var noTx bool
			m, noTx, err = parseFile(g.up, g.upName, g.upData, lx)
			if err == nil && g.down != "" {
				m.Down, err = parseDownFile(g.down, g.downData, noTx, lx)
				if err == nil {
					m.DownFile = g.down
					m.DownChecksum = Checksum([]byte(m.Down.SQL))
				}
			}
		}
		if err != nil {
			return nil, detected, err
		}
		migrations = append(migrations, m)
	}
	return migrations, detected, nil
}

// group is one version's files: the up file (or the only file) and, in the
// golang-migrate layout, its down file.
type group struct {
	up, down         string // paths
	upName, downName fileName
	upReg, downReg   bool // the directory entry is a regular file
	upData, downData []byte
	sums             *quickSums // for LoadVerified, taken as the files are read
}

// readAll reads every group's files, several at a time: a no-op `up` on a
// fleet instance verifies the checksum of every applied file, and with a
// thousand files the open/stat/read/close system calls are most of its
// time. The first error in version order is returned, as a sequential read
// would have found it. Regular files of an os.DirFS are read by a
// dirReader, in fewer system calls (osdir_linux.go). With sums, each
// group's quickSums are taken as soon as its files are read: LoadVerified
// compares them with the history once that arrives, and hashing a thousand
// files there, after the files and the history are both in, was a
// sequential tail of every no-op up.
func readAll(fsys fs.FS, dir string, versions []int64, groups map[int64]*group, sums bool) error {
	read := func(file string, _ bool) ([]byte, error) { return readFile(fsys, file) }
	if r, ok := openDirReader(fsys, dir); ok {
		defer r.close()
		read = func(file string, regular bool) ([]byte, error) {
			if !regular {
				return readFile(fsys, file)
			}
			return r.read(path.Base(file), file)
		}
	}
	errs := make([]error, len(versions))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(8, len(versions)) {
		wg.Go(func() {
			for i := range next {
				g := groups[versions[i]]
				var err error
				if g.upData, err = read(g.up, g.upReg); err == nil && g.down != "" {
					g.downData, err = read(g.down, g.downReg)
				}
				if err == nil && sums {
					g.sums = sumsOf(g)
				}
				errs[i] = err
			}
		})
	}
	for i := range versions {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readFile reads file, refusing anything over MaxFileSize before reading it,
// and again while reading in case the file grew in between: a multi-gigabyte
// file must not be pulled into memory on every instance of the fleet.
func readFile(fsys fs.FS, file string) ([]byte, error) {
	info, err := fs.Stat(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("read migration: %w", err)
	}
	if !info.Mode().IsRegular() {
		// A FIFO or device would block the read or never end.
		return nil, &Error{File: file, Msg: "not a regular file"}
	}
	if info.Size() > MaxFileSize {
		return nil, &Error{File: file, Msg: sizeMsg(info.Size())}
	}
	f, err := fsys.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read migration: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 0, info.Size()+1)
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > MaxFileSize {
			return nil, &Error{File: file, Msg: sizeMsg(int64(len(buf)))}
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", file, err)
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), MaxFileSize+1-len(buf)))
		}
	}
}
