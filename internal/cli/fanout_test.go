package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
)

func TestStatusGroups(t *testing.T) {
	var rows []targetStatus
	for i := range 5 {
		rows = append(rows, targetStatus{Target: "t" + string(rune('a'+i)), At: 42, Pending: []int64{}})
	}
	rows = append(rows,
		targetStatus{Target: "old1", At: 41, Pending: []int64{42}},
		targetStatus{Target: "old2", At: 41, Pending: []int64{42}},
		targetStatus{Target: "bad1", At: 40, Pending: []int64{42}, Problems: map[string][]int64{"modified": {41}}},
		targetStatus{Target: "down", Error: "connect: connection refused\nmore", Pending: []int64{}},
		targetStatus{Target: "new", Pending: []int64{41, 42}},
		targetStatus{Target: "tenant_99", At: 41, Pending: []int64{42}, Failure: &fleetgate.Event{Version: 42, Direction: "up"}},
		targetStatus{Target: "tenant_17", At: 41, Pending: []int64{42}, Failure: &fleetgate.Event{Version: 42, Direction: "up"}},
		targetStatus{Target: "rev", At: 42, Pending: []int64{}, Failure: &fleetgate.Event{Version: 42, Direction: "down"}},
	)
	require.Equal(t, []string{
		"5 targets at 42",
		"2 targets at 41 (pending 42)",
		"1 target with nothing applied (pending 41 42)",
		"2 targets failed at 42: tenant_99, tenant_17",
		"1 target at 40 (pending 42; modified 41): bad1",
		"1 target failed: connect: connection refused: down",
		"1 target failed reverting 42: rev",
	}, statusGroups(rows))
}

// On a terminal the progress line is redrawn in place and failures stay
// above it; elsewhere each target gets a line of its own.
func TestFanReporter(t *testing.T) {
	for _, tty := range []bool{true, false} {
		var buf bytes.Buffer
		e := &env{stderr: newScrubWriter(&buf, nil), stdout: newScrubWriter(&bytes.Buffer{}, nil)}
		r := &fanReporter{e: e, total: 3, verb: "up", tty: tty}
		r.start(0, "a")
		r.start(1, "b")
		r.result(&fleetgate.TargetResult{Index: 0, Target: "a", Applied: []int64{1, 2}, Duration: time.Second})
		r.start(2, "c")
		r.result(&fleetgate.TargetResult{Index: 1, Target: "b", Err: errors.New("boom"), ExitCode: 1})
		r.result(&fleetgate.TargetResult{Index: 2, Target: "c"})
		r.finish(&fleetgate.FanOutReport{Results: []fleetgate.TargetResult{{Target: "a"}, {Target: "b", Err: errors.New("boom"), ExitCode: 1}, {Target: "c"}},
			Done: 2, Failed: 1, ExitCode: 1})
		out := buf.String()
		if tty {
			require.Contains(t, out, "\r\033[K1/3 done, 0 failed, 1 running")
			require.Contains(t, out, "\r\033[Kb: FAILED (exit 1): boom\n\r\033[K2/3 done, 1 failed, 1 running")
			require.Contains(t, out, "\r\033[K3/3 done, 1 failed, 0 running\r\033[Kup over 3 targets: 2 ok, 1 failed, 0 not started\n")
			require.NotContains(t, out, "a: ok")
		} else {
			require.NotContains(t, out, "\r")
			require.Equal(t, "[1/3] a: ok, applied 2 migrations in 1s\n[2/3] b: FAILED (exit 1): boom\n[3/3] c: ok, applied 0 migrations in 0s\n"+
				"up over 3 targets: 2 ok, 1 failed, 0 not started\nfailed targets:\n  b                              exit 1  boom\n", out)
		}
	}
	require.True(t, strings.HasPrefix(pastTense("down"), "reverted"))
}

// up, status, down and validate over SQLite databases given as -d
// several times and as a targets file, end to end through the CLI.
func TestFanOutCommandsSQLite(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"a", "b", "c"} {
		body := "-- fleetgate:up\nCREATE TABLE " + name + " (id integer);\n-- fleetgate:down\nDROP TABLE " + name + ";\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d_%s.sql", i+1, name)), []byte(body), 0o644))
	}
	db := func(n string) string { return "sqlite:" + filepath.Join(dir, n+".db") }
	dbs := []string{"-d", db("one"), "-d", db("two"), "--dir", dir}
	code, _, stderr := runCLI(t, nil, append([]string{"up", "--to", "2"}, dbs...)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "applied 2 migrations")
	file := filepath.Join(dir, "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte("# all three\nsqlite:"+filepath.Join(dir, "${T1}.db")+"\n"+db("two")+"\n"+db("three")+"\n"), 0o644))
	env := map[string]string{"T1": "one"}
	code, stdout, stderr := runCLI(t, env, "status", "--targets", file, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "2 targets at 2 (pending 3)\n1 target with nothing applied (pending 1 2 3)\n", stdout)
	code, _, stderr = runCLI(t, env, "up", "--targets", file, "--dir", dir, "--parallel", "1")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = runCLI(t, env, "down", "--targets", file, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, 3, strings.Count(stderr, "ok, reverted 1 migration "), stderr)
	code, stdout, _ = runCLI(t, env, "status", "--targets", file, "--dir", dir)
	require.Equal(t, 0, code)
	require.Equal(t, "3 targets at 2 (pending 3)\n", stdout)
	code, _, stderr = runCLI(t, env, "validate", "--targets", file, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	// Bad flags: exit 2, nothing run.
	for _, args := range [][]string{
		{"up", "--targets", file, "--parallel", "0"},
		{"up", "--targets", file, "-d", db("one")},
		{"up", "--targets", file, "--dry-run"},
		{"up", "-d", db("one"), "--schemas", "t*"},
		{"history", "-d", db("one"), "-d", db("two")},
	} {
		code, _, stderr := runCLI(t, env, append(args, "--dir", dir)...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
	}
}
