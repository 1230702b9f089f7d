package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// half is how many of a fixture's versions the old tool applies before
// fleetgate takes over: the first data migration is among them, the
// second is not.
const half = 22

// warnChecks: the migrations left pending at adoption were written for the
// old tool, and some have findings the checks enforce (an UPDATE without
// WHERE); this fleet chose to apply them anyway.
var warnChecks = []string{"FLEETGATE_CHECKS=warn"}

// requireAdoptedThenApplied checks the history after adopt and up: half
// the versions adopted, the other half applied by fleetgate, each once.
func requireAdoptedThenApplied(t *testing.T, url string, total int) {
	t.Helper()
	db := openDB(t, url)
	require.Equal(t, half, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE adopted AND complete"))
	require.Equal(t, total-half, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE NOT adopted AND complete"))
	require.Equal(t, half, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'adopt'"))
	require.Equal(t, total-half, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply'"), "up applied exactly the other half")
	require.Equal(t, 2, queryInt(t, db, "SELECT n FROM counter"), "each data migration applied once, by one tool")
	require.Equal(t, 0, queryInt(t, db, `SELECT count(*) FROM fleetgate_migrations a JOIN fleetgate_migrations b
		ON a.adopted AND NOT b.adopted AND a.version > b.version`), "every adopted version is older than every applied one")
}

// TestAdopt: the old tool applied half the fixture; adopt records that
// half (idempotently), status shows it, check only warns about it, and up
// applies the other half to the very schema the old tool would have made.
func TestAdopt(t *testing.T) {
	t.Parallel()
	for _, c := range compatTools {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			versions := c.versions(t)
			url := dbtest.Postgres(t)
			c.peer(t, c.upTo(t, versions[half-1]), url)

			r := fg(t, nil, "adopt", "--from", c.name, "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Contains(t, r.Stdout, fmt.Sprintf("%d versions applied by %s, %d recorded now as adopted; %d pending for up", half, c.name, half, len(versions)-half))
			r = fg(t, nil, "adopt", "--from", c.name, "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Contains(t, r.Stdout, "all recorded already", "adopt is idempotent")

			// status marks them; check reports their findings as warnings.
			r = fg(t, nil, "status", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, half, strings.Count(r.Stdout, "applied (adopted)"), r.Stdout)
			var st struct {
				Migrations []struct {
					Version int64  `json:"version"`
					State   string `json:"state"`
					Adopted bool   `json:"adopted"`
				} `json:"migrations"`
			}
			r = fg(t, nil, "status", "--json", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.NoError(t, json.Unmarshal([]byte(r.Stdout), &st))
			for i, m := range st.Migrations {
				require.Equal(t, versions[i], m.Version)
				require.Equal(t, i < half, m.Adopted, "version %d", m.Version)
				require.Equal(t, map[bool]string{true: "applied", false: "pending"}[i < half], m.State, "version %d", m.Version)
			}
			requireAdoptedFindingsWarn(t, url, c.dir, versions[half-1])

			r = fg(t, warnChecks, "up", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			requireAdoptedThenApplied(t, url, len(versions))
			r = fg(t, nil, "up", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())

			peerURL := dbtest.Postgres(t)
			c.peer(t, c.dir, peerURL)
			requireSameDump(t, compatDump(t, peerURL), compatDump(t, url), "%s, then adopt and up", c.name)
		})
	}
}

// requireAdoptedFindingsWarn: `check` against the database reports the
// findings in adopted migrations (versions up to last) as warnings.
func requireAdoptedFindingsWarn(t *testing.T, url, dir string, last int64) {
	t.Helper()
	r := fg(t, nil, "check", "--json", "-d", url, "--dir", dir)
	var rep struct {
		Findings []struct {
			Version  int64  `json:"version"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
		} `json:"findings"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), r.String())
	demoted := 0
	for _, f := range rep.Findings {
		if f.Version <= last {
			require.Equal(t, "warning", f.Severity, "finding in adopted version %d: %s", f.Version, f.Message)
			if strings.Contains(f.Message, "(adopted:") {
				demoted++
			}
		}
	}
	require.Positive(t, demoted, "the fixture's adopted half has findings that would block")
}

// TestAdoptFlyway: flyway's history (no flyway binary here: its table is
// written as flyway writes it) is adopted from its successful versioned
// rows; a failed row is refused.
func TestAdoptFlyway(t *testing.T) {
	t.Parallel()
	c := compatTools[0] // the golang-migrate files stand for the flyway project's, renamed
	versions := c.versions(t)
	url := dbtest.Postgres(t)
	c.peer(t, c.upTo(t, versions[half-1]), url)
	db := openDB(t, url)
	_, err := db.Exec(`DROP TABLE schema_migrations;
		CREATE TABLE flyway_schema_history (installed_rank integer PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
			type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL,
			installed_on timestamp NOT NULL DEFAULT now(), execution_time integer NOT NULL, success boolean NOT NULL);
		INSERT INTO flyway_schema_history VALUES (1, '0', '<< Flyway Schema Creation >>', 'SCHEMA', '"public"', NULL, 'app', now(), 0, true)`)
	require.NoError(t, err)
	for i, v := range versions[:half] {
		_, err := db.Exec(`INSERT INTO flyway_schema_history VALUES ($1, $2, 'migration', 'SQL', $3, 1, 'app', now(), 5, true)`,
			i+2, strconv.FormatInt(v, 10), fmt.Sprintf("V%d__migration.sql", v))
		require.NoError(t, err)
	}
	_, err = db.Exec(`INSERT INTO flyway_schema_history VALUES (100, NULL, 'refresh views', 'SQL', 'R__views.sql', 7, 'app', now(), 5, true)`)
	require.NoError(t, err)

	r := fg(t, nil, "adopt", "--from", "flyway", "-d", url, "--dir", c.dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, fmt.Sprintf("flyway_schema_history: %d versions applied", half))
	r = fg(t, warnChecks, "up", "-d", url, "--dir", c.dir)
	require.Equal(t, 0, r.Code, r.String())
	requireAdoptedThenApplied(t, url, len(versions))

	failed := dbtest.Postgres(t)
	fdb := openDB(t, failed)
	_, err = fdb.Exec(`CREATE TABLE flyway_schema_history (installed_rank integer PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
			type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL,
			installed_on timestamp NOT NULL DEFAULT now(), execution_time integer NOT NULL, success boolean NOT NULL);
		INSERT INTO flyway_schema_history VALUES (1, '1', 'extensions', 'SQL', 'V1__extensions.sql', 1, 'app', now(), 5, true),
			(2, '2', 'create accounts', 'SQL', 'V2__create_accounts.sql', 1, 'app', now(), 5, false)`)
	require.NoError(t, err)
	r = fg(t, nil, "adopt", "--from", "flyway", "-d", failed, "--dir", c.dir)
	require.Equal(t, 4, r.Code, r.String())
	require.Contains(t, r.Stderr, "failed migration, version 2 (create accounts, installed_rank 2)")
	require.Contains(t, r.Stderr, "flyway repair")
	require.Equal(t, 0, queryInt(t, fdb, "SELECT count(*) FROM pg_tables WHERE tablename = 'fleetgate_migrations'"), "nothing written")
}

// TestAdoptDirty: golang-migrate failed part way through a migration and
// left its version dirty; adopt refuses with exit 4, names the version and
// says what to check, and writes nothing.
func TestAdoptDirty(t *testing.T) {
	t.Parallel()
	c := compatTools[0]
	dir := c.upTo(t, 9)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "11_add-flags.up.sql"),
		[]byte("ALTER TABLE accounts ADD COLUMN flags integer;\nUPDATE accounts SET flags = 1 / 0;\n"), 0o644))
	bin, err := peerBin()
	require.NoError(t, err)
	url := dbtest.Postgres(t)
	out, err := exec.Command(filepath.Join(bin, "migrate"), "-path", dir, "-database", url, "up").CombinedOutput()
	require.Error(t, err, "the migration fails: %s", out)
	db := openDB(t, url)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM schema_migrations WHERE version = 11 AND dirty"))

	r := fg(t, nil, "adopt", "--from", "golang-migrate", "-d", url, "--dir", dir)
	require.Equal(t, 4, r.Code, r.String())
	for _, want := range []string{"11_add-flags.up.sql", "golang-migrate left version 11 dirty", "migrate force 11", "migrate force 9", "nothing was adopted"} {
		require.Contains(t, r.Stderr, want)
	}
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'fleetgate_migrations'"), "nothing written")

	// A dbmate table is not golang-migrate's, and the message says so.
	r = fg(t, nil, "adopt", "--from", "dbmate", "-d", url, "--dir", dir)
	require.Equal(t, 2, r.Code, r.String())
	require.Contains(t, r.Stderr, "has a dirty column")
}

// TestAdoptRace: 16 instances, released at once, each run adopt and then
// up on a database golang-migrate half migrated: all exit 0, the old half
// is recorded once, the new half applied once.
func TestAdoptRace(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	c := compatTools[0]
	versions := c.versions(t)
	url := dbtest.Postgres(t)
	c.peer(t, c.upTo(t, versions[half-1]), url)

	script := fmt.Sprintf("%[1]s adopt --from golang-migrate -d %[2]s --dir %[3]s && %[1]s up -d %[2]s --dir %[3]s", bin, url, c.dir)
	at := time.Now().Add(500 * time.Millisecond)
	ps := make([]*proc, 16)
	for i := range ps {
		ps[i] = startShAt(t, at, warnChecks, script)
	}
	for _, p := range ps {
		r := p.wait(t, 3*time.Minute)
		require.Equal(t, 0, r.Code, r.String())
	}
	requireAdoptedThenApplied(t, url, len(versions))
}

// startShAt runs a shell script as one instance, released at the instant
// at by the test binary's exec barrier (see TestMain).
func startShAt(t *testing.T, at time.Time, env []string, script string) *proc {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(self, "/bin/sh", "-c", script)
	p.cmd.Env = append(append(cleanEnv(), env...), execAtEnv+"="+strconv.FormatInt(at.UnixNano(), 10))
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, p.cmd.Start())
	p.start = time.Now()
	go func() {
		err := p.cmd.Wait()
		p.res = result{Code: exitCode(err), Stdout: p.stdout.String(), Stderr: p.stderr.String(), Elapsed: time.Since(p.start)}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}
