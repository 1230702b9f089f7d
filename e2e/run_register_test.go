package e2e

import (
	"bufio"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// logRegistry records, by trigger, every row the instance registry gains
// or loses, so that a test sees a registration even after its row is gone.
func logRegistry(t *testing.T, db *sql.DB) {
	t.Helper()
	_, err := db.Exec(`CREATE TABLE reglog (op text NOT NULL, pid integer NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
		CREATE FUNCTION reglog() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			IF TG_OP = 'DELETE' THEN INSERT INTO reglog (op, pid) VALUES (TG_OP, OLD.pid); RETURN OLD; END IF;
			INSERT INTO reglog (op, pid) VALUES (TG_OP, NEW.pid); RETURN NEW;
		END $$;
		CREATE TRIGGER reglog AFTER INSERT OR DELETE ON fleetgate_instances FOR EACH ROW EXECUTE FUNCTION reglog();`)
	require.NoError(t, err)
}

// regOps counts the registry's INSERTs and DELETEs of pid's row.
func regOps(t *testing.T, db *sql.DB, pid int) (inserts, deletes int) {
	t.Helper()
	return queryInt(t, db, "SELECT count(*) FROM reglog WHERE op = 'INSERT' AND pid = $1", pid),
		queryInt(t, db, "SELECT count(*) FROM reglog WHERE op = 'DELETE' AND pid = $1", pid)
}

// rssFileKB is a process's resident file-backed memory (RssFile in
// /proc/PID/status): mostly the pages of its own executable.
func rssFileKB(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(t, err)
			return kb
		}
	}
	t.Fatalf("no RssFile in /proc/%d/status", pid)
	return 0
}

// `run` starts its command as soon as the schema is ready and registers
// the instance beside that start: the row appears while the command runs
// and stays fresh until it exits; fleetgate's connections and the memory
// of its wait are given up beside the command (the executable's pages it
// touched go, and its idle connections close); at the exit the row goes.
// A command that exits at once, before the registration is in, still
// leaves no row behind.
func TestRunRegistersBesideItsCommand(t *testing.T) {
	t.Parallel()
	v1, _, url, db := fleetAtV1(t)
	logRegistry(t, db)

	out := filepath.Join(t.TempDir(), "started")
	app := script(t, `echo "${EPOCHREALTIME/[.,]/}" > "$1"; exec sleep 600`)
	p := start(t, append(ttl, stepsEnv...), "run", "--wait-only", "--log-format", "json",
		"-d", url+"&application_name=fg_run", "--dir", v1, "--", app, out)
	pid := p.cmd.Process.Pid
	waitFor(t, 30*time.Second, func() bool { _, err := os.Stat(out); return err == nil })
	t.Logf("fleetgate's RssFile as its command starts: %d kB", rssFileKB(t, pid))
	// The row is in within a generous ceiling of the start, and stays
	// fresh while the command runs: a heartbeat (one a second with a 3 s
	// TTL) moves last_seen past started_at.
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_instances WHERE pid = $1", pid) == 1
	})
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_instances WHERE pid = $1 AND last_seen > started_at", pid) == 1
	})
	// Given up beside the command: the idle connections (the heartbeat
	// opens one for each statement), and the executable's pages.
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fg_run'") == 0
	})
	waitFor(t, 30*time.Second, func() bool { return rssFileKB(t, pid) < 8<<10 })
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances WHERE pid = $1", pid), "the row stays while the command runs")

	p.signal(syscall.SIGTERM)
	r := p.wait(t, 30*time.Second)
	require.Equal(t, 143, r.Code, r.String())
	require.Contains(t, r.Stderr, `"memory released"`)
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances WHERE pid = $1", pid), "the row outlived the instance")
	ins, del := regOps(t, db, pid)
	require.Equal(t, [2]int{1, 1}, [2]int{ins, del}, "registered once, removed once")

	// A command done before its registration is in.
	q := start(t, ttl, "run", "--wait-only", "-d", url, "--dir", v1, "--", "true")
	r = q.wait(t, 30*time.Second)
	require.Equal(t, 0, r.Code, r.String())
	ins, del = regOps(t, db, q.cmd.Process.Pid)
	require.Equal(t, [2]int{1, 1}, [2]int{ins, del}, "registered once, removed once: %s", r)
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances"))

	// A command that is found but cannot start (its interpreter is
	// missing) never ran, so it is never registered.
	broken := filepath.Join(t.TempDir(), "broken.sh")
	require.NoError(t, os.WriteFile(broken, []byte("#!/no/such/interpreter\n"), 0o755))
	q = start(t, ttl, "run", "--wait-only", "-d", url, "--dir", v1, "--", broken)
	r = q.wait(t, 30*time.Second)
	require.Equal(t, 127, r.Code, r.String())
	ins, del = regOps(t, db, q.cmd.Process.Pid)
	require.Equal(t, [2]int{0, 0}, [2]int{ins, del}, "a command that never started was registered: %s", r)
}
