package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// The soak: many trials of a small fleet migrating while one random fault
// strikes at a random moment, each checked for the four ways the promise
// can break. scripts/soak.sh runs it; the normal suite skips it.
const (
	soakTrialsEnv = "FLEETGATE_SOAK_TRIALS" // number of trials; unset: skip
	soakSeedEnv   = "FLEETGATE_SOAK_SEED"   // to replay a run; default: the clock
	soakReportEnv = "FLEETGATE_SOAK_REPORT" // file that receives the one-line result
)

// soakLease is the runners' --lease: short, so that trials that cost a
// holder its lease end quickly.
const soakLease = time.Second

// soakRunners is how many runners race in each trial.
const soakRunners = 3

// soakFinish bounds how long a runner may take after the fault before it
// counts as one that never finished.
const soakFinish = 2 * time.Minute

type soakFault string

const (
	faultKill      soakFault = "kill-9"
	faultStop      soakFault = "sigstop"
	faultRestart   soakFault = "restart" // -m fast or -m immediate, at random
	faultBlackhole soakFault = "blackhole"
)

var soakFaults = []soakFault{faultKill, faultStop, faultRestart, faultBlackhole}

type soakStats struct {
	trials                    int
	double, half, stuck, hung int
	slowest                   time.Duration
	byFault                   map[soakFault]int
	failedRunners             int // exit codes other than 0 of runners not killed by the test
}

func (s *soakStats) line() string {
	v := s.double + s.half + s.stuck + s.hung
	return fmt.Sprintf("soak: trials=%d violations=%d (double=%d half=%d stuck=%d hung=%d) slowest_recovery=%.1fs",
		s.trials, v, s.double, s.half, s.stuck, s.hung, s.slowest.Seconds())
}

func TestSoak(t *testing.T) {
	raw := os.Getenv(soakTrialsEnv)
	if raw == "" {
		t.Skip("the soak runs from scripts/soak.sh (it sets " + soakTrialsEnv + ")")
	}
	trials, err := strconv.Atoi(raw)
	require.NoError(t, err, soakTrialsEnv)
	require.Positive(t, trials, soakTrialsEnv)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(soakSeedEnv); s != "" {
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, soakSeedEnv)
	}
	t.Logf("seed %d (replay with %s=%d)", seed, soakSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	srv, err := dbtest.StartPostgres()
	require.NoError(t, err)

	st := &soakStats{byFault: map[soakFault]int{}}
	for i := range trials {
		fault := soakFaults[rng.IntN(len(soakFaults))]
		t.Run(fmt.Sprintf("Trial%d-%s", i, fault), func(t *testing.T) {
			soakTrial(t, srv, rng, fault, st)
		})
		st.trials++
	}
	line := st.line()
	t.Logf("%s; trials by fault %v; runners that exited non-zero without being killed: %d", line, st.byFault, st.failedRunners)
	if path := os.Getenv(soakReportEnv); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(line+"\n"), 0o644))
	}
	if st.double+st.half+st.stuck+st.hung > 0 {
		t.Error(line)
	}
}

// soakMigration is one generated migration after the first: it increments
// its own row of soak_counters and creates its own side table, in one
// transaction or (no-transaction) as two autocommit statements.
type soakMigration struct {
	version int
	notx    bool
}

// soakFiles writes the counters table and 2 or 3 more migrations, each at
// random transactional or no-transaction, sleeping up to 0.8 s in the
// database while the increment is in flight.
func soakFiles(rng *rand.Rand) (map[string]string, []soakMigration) {
	files := map[string]string{
		"0001_counters.sql": "-- fleetgate:up\nCREATE TABLE soak_counters (id integer PRIMARY KEY, n integer NOT NULL);\n" +
			"INSERT INTO soak_counters SELECT g, 0 FROM generate_series(2, 9) g;\n",
	}
	var migs []soakMigration
	last := 3 + rng.IntN(2)
	for v := 2; v <= last; v++ {
		m := soakMigration{version: v, notx: rng.IntN(2) == 0}
		sleep := fmt.Sprintf("%.2f", rng.Float64()*0.8)
		var body string
		if m.notx {
			body = "-- fleetgate:no-transaction\n-- fleetgate:up\n" +
				fmt.Sprintf("UPDATE soak_counters SET n = n + 1 WHERE id = %d AND (SELECT true FROM pg_sleep(%s) AS soak_sleep);\n", v, sleep) +
				fmt.Sprintf("CREATE TABLE soak_side_%d (id integer);\n", v)
		} else {
			body = "-- fleetgate:up\n" +
				fmt.Sprintf("UPDATE soak_counters SET n = n + 1 WHERE id = %d;\n", v) +
				fmt.Sprintf("SELECT pg_sleep(%s) AS soak_sleep;\n", sleep) +
				fmt.Sprintf("CREATE TABLE soak_side_%d (id integer);\n", v)
		}
		files[fmt.Sprintf("%04d_m%d.sql", v, v)] = body
		migs = append(migs, m)
	}
	return files, migs
}

func soakTrial(t *testing.T, srv *dbtest.PGServer, rng *rand.Rand, fault soakFault, st *soakStats) {
	st.byFault[fault]++
	direct := dbtest.Postgres(t)
	files, migs := soakFiles(rng)
	dir := writeFiles(t, files)
	url := direct
	var fp *dbtest.FaultProxy
	if fault == faultBlackhole {
		fp, url = dbtest.FaultProxyFor(t, direct)
	}
	args := []string{"up", "-d", url, "--dir", dir, "--lease", soakLease.String(), "--checks", "off"}
	runners := make([]*proc, soakRunners)
	for i := range runners {
		runners[i] = start(t, nil, args...)
	}

	// Runners start in about 0.1 s and work for up to about 2.5 s.
	time.Sleep(time.Duration(rng.IntN(1200)) * time.Millisecond)
	faultAt := time.Now()
	killed := map[int]bool{}
	victim := func() int { return soakHolder(direct, runners, rng) }
	switch fault {
	case faultKill:
		i := victim()
		_ = syscall.Kill(runners[i].cmd.Process.Pid, syscall.SIGKILL)
		killed[i] = true
	case faultStop:
		i := victim()
		pid := runners[i].cmd.Process.Pid
		_ = syscall.Kill(pid, syscall.SIGSTOP)
		time.Sleep(soakLease + time.Duration(200+rng.IntN(800))*time.Millisecond)
		_ = syscall.Kill(pid, syscall.SIGCONT)
	case faultRestart:
		mode := []string{"fast", "immediate"}[rng.IntN(2)]
		t.Logf("restart -m %s", mode)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		require.NoError(t, srv.Restart(ctx, mode))
		cancel()
	case faultBlackhole:
		require.NoError(t, fp.ApplyAll(dbtest.Blackhole()))
		// From shorter than the heartbeat's patience to longer than the
		// lease.
		time.Sleep(time.Duration(300+rng.IntN(2200)) * time.Millisecond)
		fp.HealAll()
	}

	var problems []string
	for i, p := range runners {
		r, finished := waitBounded(p, soakFinish)
		switch {
		case !finished:
			st.hung++
			problems = append(problems, fmt.Sprintf("HUNG runner %d did not finish within %v of the fault:\n%s", i, soakFinish, r))
		case r.Code != 0 && !killed[i]:
			st.failedRunners++
			t.Logf("runner %d: %s", i, r)
		}
	}

	db := openDB(t, direct)
	// A backend left running a statement by a lost client must be done
	// before the counters mean anything.
	waitFor(t, time.Minute, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%soak_sleep%' AND state = 'active' AND pid <> pg_backend_pid()") == 0
	})
	// Before recovery: what is recorded complete is fully there, and a
	// transactional migration left no trace unless recorded.
	for _, m := range migs {
		complete, n, side := soakState(t, db, m.version)
		switch {
		case n > 1:
			// Counted once, after recovery.
		case complete && (n != 1 || !side):
			st.half++
			problems = append(problems, fmt.Sprintf("HALF version %d recorded complete with counter=%d side table=%v", m.version, n, side))
		case !complete && !m.notx && (n != 0 || side):
			st.half++
			problems = append(problems, fmt.Sprintf("HALF transactional version %d not recorded but counter=%d side table=%v", m.version, n, side))
		}
	}

	// Recovery: a plain `up` on the healthy path finishes the job with no
	// manual step, and leaves the lock free.
	rp := start(t, nil, "up", "-d", direct, "--dir", dir, "--lease", soakLease.String(), "--checks", "off")
	rr, finished := waitBounded(rp, time.Minute)
	recovered := time.Since(faultAt)
	held := lockStuck(t, db)
	if !finished || rr.Code != 0 || held != 0 {
		st.stuck++
		problems = append(problems, fmt.Sprintf("STUCK recovery up finished=%v lock held=%d: %s", finished, held, rr))
	} else {
		st.slowest = max(st.slowest, recovered)
	}
	for _, m := range migs {
		complete, n, side := soakState(t, db, m.version)
		if n > 1 {
			st.double++
			problems = append(problems, fmt.Sprintf("DOUBLE version %d (no-transaction %v): counter=%d", m.version, m.notx, n))
		} else if finished && rr.Code == 0 && (!complete || n != 1 || !side) {
			st.half++
			problems = append(problems, fmt.Sprintf("HALF after recovery version %d: complete=%v counter=%d side table=%v", m.version, complete, n, side))
		}
	}
	if len(problems) > 0 {
		t.Errorf("%s trial, migrations %+v, recovered in %v:\n%s", fault, migs, recovered, strings.Join(problems, "\n"))
	}
}

// soakHolder returns the index of the runner that holds the lock now, or
// a random runner when none of them does (yet).
func soakHolder(url string, runners []*proc, rng *rand.Rand) int {
	db, err := sql.Open("pgx", url)
	if err == nil {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var pid int
		if db.QueryRowContext(ctx, "SELECT pid FROM fleetgate_lock WHERE holder IS NOT NULL").Scan(&pid) == nil {
			for i, p := range runners {
				if p.cmd.Process.Pid == pid {
					return i
				}
			}
		}
	}
	return rng.IntN(len(runners))
}

// soakState reads one generated migration's footprint.
func soakState(t *testing.T, db *sql.DB, version int) (complete bool, n int, side bool) {
	t.Helper()
	if queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'soak_counters'") == 0 {
		return false, 0, false
	}
	if queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'fleetgate_migrations'") == 1 {
		complete = queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version = $1 AND complete", version) == 1
	}
	n = queryInt(t, db, "SELECT n FROM soak_counters WHERE id = $1", version)
	side = queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = $1", fmt.Sprintf("soak_side_%d", version)) == 1
	return complete, n, side
}

// waitBounded waits up to d for p; a process still running then is killed
// (by its process group) and reported as not finished.
func waitBounded(p *proc, d time.Duration) (result, bool) {
	select {
	case <-p.done:
		return p.res, true
	case <-time.After(d):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return p.res, false
	}
}

// lockStuck counts a lock row that no runner could take: held, its lease
// not run out, and its holder's session (when it recorded one) still
// there. Every runner has exited by now, so a row left behind is a dead
// holder's (killed after its last commit, or its release lost to a
// restart): a recovery with nothing to apply does not take the lock, and
// the next runner that needs it takes it over once the lease runs out or
// at once when the session is gone. It is stuck only if that never
// happens: something keeps the lease from running out. So this waits up
// to a lease and a margin for the row to become takeable.
func lockStuck(t *testing.T, db *sql.DB) int {
	t.Helper()
	const q = `SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL AND expires_at > clock_timestamp()
		AND (session_pid IS NULL OR session_pid IN (SELECT pid FROM pg_stat_activity))`
	deadline := time.Now().Add(soakLease + 3*time.Second)
	for {
		n := queryInt(t, db, q)
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}
