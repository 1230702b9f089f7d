package fleetgate

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleetgate/fleetgate/internal/source"
)

// The expressions of new.go and targets.go are compiled on first use,
// not at every process start.
var newNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`) })

// CreateMigration writes the next migration file in dir (on the local file
// system) and returns its path. The version is a UTC timestamp
// YYYYMMDDhhmmss; in a hand-numbered directory (0001_, 0002_ ...) it is the
// next number with the same width, so the directory keeps one style. In a
// golang-migrate, goose or dbmate directory the file is of that format (a
// golang-migrate migration is two files; the .up.sql path is returned).
func CreateMigration(dir, name string, phase Phase, now time.Time) (string, error) {
	if !newNameRE().MatchString(name) {
		return "", configErr("name", "%q: use letters, digits, '_', '-' and '.'", name)
	}
	if phase != "" && phase != PhasePre && phase != PhasePost {
		return "", configErr("phase", "unknown phase %q (want pre or post)", string(phase))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", configErr("dir", "%v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", configErr("dir", "%v", err)
	}
	var maxV int64
	width := 0
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		if v > maxV {
			maxV, width = v, len(num)
		}
	}
	var version string
	if maxV > 0 && maxV < 1e9 {
		version = fmt.Sprintf("%0*d", width, maxV+1)
	} else {
		v, _ := strconv.ParseInt(now.UTC().Format("20060102150405"), 10, 64)
		version = strconv.FormatInt(max(v, maxV+1), 10)
	}
	var b strings.Builder
	if phase == PhasePost {
		b.WriteString("-- fleetgate:phase post\n")
	}
	// A directory of another tool's format gets a file of that format: a
	// fleetgate file among goose files would make the directory unreadable.
	base := filepath.Join(dir, version+"_"+name)
	switch f, _ := detectDirFormat(dir); f {
	case FormatGolangMigrate:
		if _, err := writeNew(base+".down.sql", ""); err != nil {
			return "", err
		}
		return writeNew(base+".up.sql", b.String())
	case FormatGoose:
		b.WriteString("-- +goose Up\n\n\n-- +goose Down\n\n")
	case FormatDbmate:
		b.WriteString("-- migrate:up\n\n\n-- migrate:down\n\n")
	default:
		b.WriteString("-- fleetgate:up\n\n\n-- fleetgate:down\n\n")
	}
	return writeNew(base+".sql", b.String())
}

// detectDirFormat is the format of the migrations already in dir;
// fleetgate's when there are none or they do not load.
func detectDirFormat(dir string) (Format, error) {
	ms, f, err := source.LoadFormat(os.DirFS(dir), ".", FormatAuto)
	if err != nil || len(ms) == 0 {
		return FormatFleetgate, err
	}
	return f, nil
}

// writeNew creates p, which must not exist, with text.
func writeNew(p, text string) (string, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", p, err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	return p, f.Close()
}
