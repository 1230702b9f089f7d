package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// --log-format json writes JSON Lines: every line on stderr is one object
// with a level and a message, on success and on failure.
func TestJSONLogsAreJSONLines(t *testing.T) {
	t.Parallel()
	url := dbtest.SQLite(t)
	good := writeFiles(t, map[string]string{"1_counter.sql": counterSQL})
	bad := writeFiles(t, map[string]string{"1_counter.sql": counterSQL, "2_bad.sql": "-- fleetgate:up\nSELECT *\nFROM nope;\n"})
	for _, c := range []struct {
		dir  string
		code int
	}{{good, 0}, {good, 0}, {bad, 1}} {
		r := fg(t, nil, "up", "-d", url, "--dir", c.dir, "--log-format", "json")
		require.Equal(t, c.code, r.Code, r.String())
		lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
		require.NotEmpty(t, lines)
		for _, l := range lines {
			var obj map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &obj), "not a JSON object: %q", l)
			require.Contains(t, obj, "level")
			require.Contains(t, obj, "msg")
		}
	}
}
