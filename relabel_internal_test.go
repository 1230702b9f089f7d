package fleetgate

import (
	"path"
	"testing"

	"github.com/stretchr/testify/require"
)

// relabelIn, the fast path of a thousand files, names every file as
// relabel (path.Join) does.
func TestRelabelInIsRelabel(t *testing.T) {
	t.Parallel()
	for _, label := range []string{"db/migrations", "db/migrations/", "./db//m", "/abs/m", "/", ".", "..", "../up", "x/../y"} {
		for _, dir := range []string{".", "m", "a/b"} {
			if label == dir {
				continue // load does not relabel then
			}
			for _, file := range []string{"1_a.sql", dir + "/1_a.sql", dir + "/sub/1_a.sql", "other/1_a.sql", dir + "/..", "1 a.sql"} {
				m := &Migrator{cfg: Config{Label: label, Dir: dir}}
				require.Equal(t, m.relabel(file), m.relabelIn(path.Clean(label), file), "label %q dir %q file %q", label, dir, file)
			}
		}
	}
}
