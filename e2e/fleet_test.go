package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// fleetBuild is the seed scenario's schema: the old build creates items;
// the new one adds a column the new app reads on start, in a migration
// that takes 2 s. The sleep comes first, so that an app that started early
// fails at once on the missing column instead of queueing behind the
// ALTER's lock and seeing the column after all.
func fleetBuild(newBuild bool) map[string]string {
	files := map[string]string{
		"1_items.sql": "-- fleetgate:up\nCREATE TABLE items (id integer PRIMARY KEY);\nINSERT INTO items VALUES (1);\n",
	}
	if newBuild {
		files["2_flavor.sql"] = "-- fleetgate:up\nSELECT pg_sleep(2);\nALTER TABLE items ADD COLUMN flavor text NOT NULL DEFAULT 'new';\n"
	}
	return files
}

// gatedBuild is fleetBuild with a gate: the 2-second migration also waits,
// before its ALTER, until the test opens the gate. So the commit comes
// only once every waiter is waiting, however slowly a busy machine starts
// the processes, and the measurement is one of waking up, not starting.
func gatedBuild() map[string]string {
	return map[string]string{
		"1_items.sql": "-- fleetgate:up\nCREATE TABLE items (id integer PRIMARY KEY);\nINSERT INTO items VALUES (1);\n" +
			"CREATE TABLE gate (open boolean NOT NULL);\nINSERT INTO gate VALUES (false);\n",
		"2_flavor.sql": "-- fleetgate:up\nSELECT pg_sleep(2);\n" +
			"DO $$ BEGIN WHILE NOT (SELECT open FROM gate) LOOP PERFORM pg_sleep(0.01); END LOOP; END $$;\n" +
			"ALTER TABLE items ADD COLUMN flavor text NOT NULL DEFAULT 'new';\n",
	}
}

// openGate lets gatedBuild's migration 2 commit.
func openGate(t testing.TB, db *sql.DB) {
	t.Helper()
	_, err := db.Exec("UPDATE gate SET open = true")
	require.NoError(t, err)
}

// bouncerClients counts PgBouncer's client connections whose
// application_name is app, through its admin console.
func bouncerClients(t testing.TB, bouncerURL, app string) int {
	t.Helper()
	u, err := neturl.Parse(bouncerURL)
	require.NoError(t, err)
	u.Path = "/pgbouncer"
	db := openDB(t, u.String())
	defer db.Close()
	rows, err := db.Query("SHOW CLIENTS")
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	at := slices.Index(cols, "application_name")
	require.GreaterOrEqual(t, at, 0, "SHOW CLIENTS columns: %v", cols)
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		if fmt.Sprint(vals[at]) == app {
			n++
		}
	}
	require.NoError(t, rows.Err())
	return n
}

// readerApp is the new build's app: it notes when it started (µs since
// the epoch, the shell's first act), reads the new column with psql, and
// exits with the status given as its second argument.
const readerApp = `t=${EPOCHREALTIME/[.,]/}
v=$(psql "$APP_URL" -XtAc 'SELECT flavor FROM items WHERE id = 1' 2>&1); rc=$?
printf '%s %s %s\n' "$t" "$rc" "$v" > "$1.tmp"; mv "$1.tmp" "$1"
exit "$2"
`

// stampApp only notes when it started (bash builtins only, no further
// process), so that its own work competes as little as possible for the
// CPU with instances still waking up. The file is read once it exited.
const stampApp = `echo "${EPOCHREALTIME/[.,]/}" > "$1"
`

// appRun is what an app wrote: its start time and, for readerApp, the
// outcome of its query.
type appRun struct {
	startUS int64
	rc      string
	value   string
}

func readApp(t testing.TB, path string) appRun {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err, "the app did not run")
	f := strings.Fields(string(b))
	require.NotEmpty(t, f, path)
	us, err := strconv.ParseInt(f[0], 10, 64)
	require.NoError(t, err)
	r := appRun{startUS: us}
	if len(f) > 1 {
		r.rc = f[1]
		r.value = strings.Join(f[2:], " ")
	}
	return r
}

// commitFloorUS is a lower bound of the commit time of version's
// migration, in µs since the epoch: the clock_timestamp() of its apply
// event, which the runner inserts in the migration's own transaction just
// before the NOTIFY and the COMMIT. The query also proves the migration
// was applied exactly once.
func commitFloorUS(t testing.TB, db *sql.DB, version int) int64 {
	t.Helper()
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply' AND version = $1", version),
		"apply events of version %d", version)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version = $1 AND complete", version))
	var us int64
	require.NoError(t, db.QueryRow("SELECT (extract(epoch FROM at) * 1000000)::bigint FROM fleetgate_events WHERE kind = 'apply' AND version = $1", version).Scan(&us))
	return us
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// recordResult appends a line to the file named by FLEETGATE_RESULTS, if
// set (scripts/bench-wake.sh sets it), for the README.
func recordResult(t testing.TB, line string) {
	t.Helper()
	t.Log(line)
	path := os.Getenv("FLEETGATE_RESULTS")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
	require.NoError(t, err)
}

// waitRunning waits until a statement containing query runs (a
// migration's first statement shares its round trip with BEGIN).
func waitRunning(t testing.TB, db *sql.DB, query string) {
	t.Helper()
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND state = 'active'", "%"+query+"%") > 0
	})
}

// The seed scenario: a 27-instance fleet deployed in three waves of 9, each
// instance `fleetgate run -- app`; the new build's 2-second migration adds
// the column its app reads on start. No app starts before the commit,
// every app sees the column, every instance exits with its app's status,
// and the migration is applied once.
func TestFleetDeploy(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", writeFiles(t, fleetBuild(false))).Code)
	dir := writeFiles(t, fleetBuild(true))
	app := script(t, readerApp)
	out := t.TempDir()

	// Waves 0.7 s apart: the second and third arrive while the first
	// wave's runner is inside the 2-second migration.
	const waves, perWave = 3, 9
	first := time.Now().Add(500 * time.Millisecond)
	ps := make([]*proc, waves*perWave)
	for w := range waves {
		for i := range perWave {
			n := w*perWave + i
			ps[n] = startAt(t, first.Add(time.Duration(w)*700*time.Millisecond), []string{"APP_URL=" + url},
				"run", "-d", url, "--dir", dir, "--deploy-id", fmt.Sprintf("wave-%d", w+1), "--",
				app, filepath.Join(out, strconv.Itoa(n)), strconv.Itoa(10+n))
		}
	}
	results := make([]result, len(ps))
	for n, p := range ps {
		results[n] = p.wait(t, 2*time.Minute)
	}
	commit := commitFloorUS(t, db, 2)
	var lat []float64
	for n, r := range results {
		require.Equal(t, 10+n, r.Code, "instance %d exits with its app's status\n%s", n, r)
		a := readApp(t, filepath.Join(out, strconv.Itoa(n)))
		require.Equal(t, "0", a.rc, "instance %d: the app could not read the new column: %s", n, a.value)
		require.Equal(t, "new", a.value, "instance %d", n)
		require.Greater(t, a.startUS, commit, "instance %d started its app %d µs before the migration committed", n, commit-a.startUS)
		lat = append(lat, float64(a.startUS-commit)/1000)
	}
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations"))
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"))
	slices.Sort(lat)
	t.Logf("27 instances (run, 3 waves of 9): app start after commit: min %.1f ms, p50 %.1f ms, max %.1f ms",
		lat[0], percentile(lat, 50), lat[len(lat)-1])
}

// notifyObserver LISTENs on the history channel in the test and records
// when each version's notification arrived: an upper bound of the commit
// time, where commitFloorUS is a lower one.
func notifyObserver(t testing.TB, url string) func(version int) int64 {
	t.Helper()
	db := openDB(t, url)
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	_, err = conn.ExecContext(context.Background(), `LISTEN "fleetgate_migrations"`)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	got := map[int]int64{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_ = conn.Raw(func(dc any) error {
				n, err := pgxConn(dc).WaitForNotification(ctx)
				if err == nil {
					v, _ := strconv.Atoi(n.Payload)
					if _, seen := got[v]; !seen {
						got[v] = time.Now().UnixMicro()
					}
				}
				return nil
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	return func(version int) int64 {
		cancel()
		<-done
		return got[version]
	}
}

// waitWaiting returns once n waiters (application_name fg_waiter) wait:
// directly, each holds its listening session and has read the history;
// through PgBouncer, each has its client connection and half a second
// passed for the first read on it.
func waitWaiting(t testing.TB, db *sql.DB, target string, pooled bool, n int) {
	t.Helper()
	if pooled {
		waitFor(t, time.Minute, func() bool { return bouncerClients(t, target, "fg_waiter") == n })
		time.Sleep(500 * time.Millisecond)
		return
	}
	waitFor(t, time.Minute, func() bool {
		return queryInt(t, db, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fg_waiter'
			AND state = 'idle' AND (query LIKE 'SELECT version,%' OR query LIKE 'SELECT holder,%')`) == n
	})
}

// spawnBaseline starts n copies of app at once, straight from the test,
// and returns the p50 and p99 delay from the spawn to their first
// instruction: what this machine, at this moment, adds to any wake-up of n
// processes, fleetgate or not.
func spawnBaseline(t testing.TB, app string, n int) (p50, p99 float64) {
	t.Helper()
	out := t.TempDir()
	cmds := make([]*exec.Cmd, n)
	t0 := time.Now().UnixMicro()
	for i := range cmds {
		cmds[i] = exec.Command(app, filepath.Join(out, strconv.Itoa(i)))
		require.NoError(t, cmds[i].Start())
	}
	var lat []float64
	for i, c := range cmds {
		require.NoError(t, c.Wait())
		lat = append(lat, float64(readApp(t, filepath.Join(out, strconv.Itoa(i))).startUS-t0)/1000)
	}
	slices.Sort(lat)
	return percentile(lat, 50), percentile(lat, 99)
}

// readyAt is the time of the "schema is ready" line of a JSON log
// (millisecond precision).
func readyAt(t testing.TB, stderr string) time.Time {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "schema is ready" {
			return rec.Time
		}
	}
	t.Fatalf("no \"schema is ready\" line in:\n%s", stderr)
	return time.Time{}
}

// loadAvg is the machine's 1-minute load average, for the record.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

func pgxConn(dc any) *pgx.Conn { return dc.(*stdlib.Conn).Conn() }

// waitOnlyRound starts n instances `run --wait-only` while another
// process applies a 2-second migration, and checks the promise: every
// waiter was waiting before the commit, no app started before it, every
// app started after it, and (directly) the commit was announced. It
// returns, per waiter and sorted, the time in ms from the commit to the
// app's first instruction (lat) and to fleetgate's "schema is ready" line
// (wake), and how long the commit window was; steps, when not nil, gets
// every waiter's steps.
func waitOnlyRound(tb testing.TB, waiters int, pooled bool, poll time.Duration, steps wakeSteps) (lat, wake []float64, window float64, app string) {
	tb.Helper()
	url := dbtest.Postgres(tb)
	target := url
	if pooled {
		target = dbtest.PgBouncer(tb, url)
	}
	db := openDB(tb, url)
	dir := writeFiles(tb, gatedBuild())
	require.Equal(tb, 0, fg(tb, nil, "up", "-d", target, "--dir", dir, "--to", "1").Code)
	notified := notifyObserver(tb, url)
	app = script(tb, stampApp)
	out := tb.TempDir()

	up := start(tb, nil, "up", "-d", target, "--dir", dir)
	waitRunning(tb, db, "SELECT pg_sleep(2)")
	ps := make([]*proc, waiters)
	for i := range ps {
		ps[i] = start(tb, stepsEnv, "run", "--wait-only", "--poll", poll.String(), "--log-format", "json",
			"-d", target+"&application_name=fg_waiter", "--dir", dir, "--", app, filepath.Join(out, strconv.Itoa(i)))
	}
	waitWaiting(tb, db, target, pooled, waiters)
	openGate(tb, db)
	require.Equal(tb, 0, up.wait(tb, time.Minute).Code)
	for i, p := range ps {
		r := p.wait(tb, time.Minute)
		require.Equal(tb, 0, r.Code, "waiter %d: %s", i, r)
	}
	floor := commitFloorUS(tb, db, 2)
	ceiling := notified(2)
	require.NotZero(tb, ceiling, "no notification seen")
	for i, p := range ps {
		require.Less(tb, p.start.UnixMicro(), floor-200_000, "waiter %d started too late to be waiting", i)
		a := readApp(tb, filepath.Join(out, strconv.Itoa(i)))
		require.GreaterOrEqual(tb, a.startUS, floor, "app %d started %d µs before the migration committed", i, floor-a.startUS)
		lat = append(lat, float64(a.startUS-floor)/1000)
		wake = append(wake, float64(readyAt(tb, p.res.Stderr).UnixMicro()-floor)/1000)
		if steps != nil {
			steps.add(tb, p.res.Stderr, floor, a.startUS)
		}
	}
	slices.Sort(lat)
	slices.Sort(wake)
	return lat, wake, float64(ceiling-floor) / 1000, app
}

// Instances `run --wait-only` while another process applies a migration:
// none starts its app before the commit, and each starts it once the
// commit is in. Directly the waiters poll only once a minute, so that the
// generous ceiling below tells the notification's wake-up from a poll;
// through PgBouncer in transaction pooling, where notifications are
// unavailable, a poll wakes them. How fast: BenchmarkWaitOnlyLatency.
func TestWaitOnly(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	for _, tc := range []struct {
		name   string
		pooled bool
		poll   time.Duration
	}{
		{"Direct", false, time.Minute},
		{"PgBouncer", true, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lat, _, _, _ := waitOnlyRound(t, 5, tc.pooled, tc.poll, nil)
			t.Logf("commit to app start: %v ms", lat)
			require.Less(t, lat[len(lat)-1], 30_000.0, "an app started more than 30 s after the commit")
		})
	}
}

// BenchmarkWaitOnlyLatency is the wake-up of 20 waiting instances (`run
// --wait-only`) on one machine, from the commit to each app's first
// instruction. The target is p99 ≤ 40 ms on PostgreSQL (LISTEN; issue
// 16), and ≤ the poll interval (1 s) + 50 ms through PgBouncer in
// transaction pooling. With FLEETGATE_WAKE_BASE set, each round runs
// twice, with this tree's binary and then with that one.
// Directly the waiters poll only every 10 s, so that nothing but the
// notification can wake them in time. The 20 instances share the CPUs with
// each other, their database sessions, the apps they start and whatever
// else the machine runs; the baseline recorded with the numbers shows what
// merely spawning 20 apps at once costs, and
// BenchmarkWaitOnlyLatencyOneAtATime measures one instance free of that.
//
//	go test ./e2e -run '^$' -bench WaitOnlyLatency -benchtime 1x
func BenchmarkWaitOnlyLatency(b *testing.B) {
	heavy.Lock()
	defer heavy.Unlock()
	const waiters = 20
	for _, tc := range []struct {
		name   string
		pooled bool
		poll   time.Duration
		target time.Duration // the acceptance target for p99
	}{
		{"Direct", false, 10 * time.Second, 40 * time.Millisecond},
		{"PgBouncer", true, time.Second, time.Second + 50*time.Millisecond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				for _, build := range builds() {
					var lat, wake []float64
					var window float64
					var app string
					steps := wakeSteps{}
					withBin(build, func() { lat, wake, window, app = waitOnlyRound(b, waiters, tc.pooled, tc.poll, steps) })
					p50, p99 := percentile(lat, 50), percentile(lat, 99)
					b50, b99 := spawnBaseline(b, app, waiters)
					recordResult(b, fmt.Sprintf("wait-latency %s build=%s waiters=%d commit-to-app-start p50=%.1fms p99=%.1fms (target p99 %v); "+
						"commit-to-fleetgate-ready p50=%.0fms p99=%.0fms; commit window %.2fms; %s; "+
						"baseline: %d apps spawned at once by the test start after p50=%.1fms p99=%.1fms; load %s",
						tc.name, buildName(build), waiters, p50, p99, tc.target, percentile(wake, 50), percentile(wake, 99), window, steps,
						waiters, b50, b99, loadAvg()))
					if p99 > float64(tc.target.Milliseconds()) {
						b.Logf("p99 %.1f ms misses the target of %v on this machine", p99, tc.target)
					}
					if build == bin {
						b.ReportMetric(p50, "p50-ms")
						b.ReportMetric(p99, "p99-ms")
					}
				}
			}
		})
	}
}

// BenchmarkWaitOnlyLatencyOneAtATime is the wake-up of one waiting
// instance, free of the contention of 20 instances on one machine: rounds
// of one `run --wait-only` waiter and one commit, from the commit to the
// app's first instruction. Target (issue 16): p99 ≤ 20 ms. With
// FLEETGATE_WAKE_BASE set, the rounds alternate between this tree's
// binary and that one, so that both meet the same load. After each round
// the test spawns the app once itself: the baseline recorded with the
// numbers is what the app's own start costs on this machine at that
// moment, which no waiter can go below.
//
//	go test ./e2e -run '^$' -bench WaitOnlyLatencyOneAtATime -benchtime 1x
func BenchmarkWaitOnlyLatencyOneAtATime(b *testing.B) {
	heavy.Lock()
	defer heavy.Unlock()
	rounds := 12
	if v := os.Getenv("FLEETGATE_WAKE_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err, "FLEETGATE_WAKE_ROUNDS")
		rounds = n
	}
	bins := builds()
	total := rounds * len(bins)
	files := map[string]string{
		"1_gates.sql": fmt.Sprintf("-- fleetgate:up\nCREATE TABLE gates (id integer PRIMARY KEY, open boolean NOT NULL);\n"+
			"INSERT INTO gates SELECT g, false FROM generate_series(2, %d) g;\n", 2+total),
	}
	for v := 2; v < 2+total; v++ {
		files[fmt.Sprintf("%d_round.sql", v)] = fmt.Sprintf("-- fleetgate:up\n"+
			"DO $$ BEGIN WHILE NOT (SELECT open FROM gates WHERE id = %d) LOOP PERFORM pg_sleep(0.01); END LOOP; END $$;\n"+
			"CREATE TABLE round%d (id integer);\n", v, v)
	}
	for range b.N {
		dir := writeFiles(b, files)
		url := dbtest.Postgres(b)
		db := openDB(b, url)
		require.Equal(b, 0, fg(b, nil, "up", "-d", url, "--dir", dir, "--to", "1").Code)
		app := script(b, stampApp)
		out := b.TempDir()
		lat := map[string][]float64{}
		wake := map[string][]float64{}
		steps := map[string]wakeSteps{}
		// What one start of the app costs at that moment, fleetgate or
		// not: the test spawns it once after each round.
		var spawn []float64
		for v := 2; v < 2+total; v++ {
			build := bins[(v-2)%len(bins)]
			name := buildName(build)
			if steps[name] == nil {
				steps[name] = wakeSteps{}
			}
			to := strconv.Itoa(v)
			up := start(b, nil, "up", "-d", url, "--dir", dir, "--to", to)
			var w *proc
			withBin(build, func() {
				w = start(b, stepsEnv, "run", "--wait-only", "--to", to, "--poll", "10s", "--log-format", "json",
					"-d", url+"&application_name=fg_waiter", "--dir", dir, "--", app, filepath.Join(out, to))
			})
			waitWaiting(b, db, url, false, 1)
			waitRunning(b, db, "WHILE NOT")
			_, err := db.Exec("UPDATE gates SET open = true WHERE id = $1", v)
			require.NoError(b, err)
			require.Equal(b, 0, up.wait(b, time.Minute).Code)
			r := w.wait(b, time.Minute)
			require.Equal(b, 0, r.Code, r.String())
			floor := commitFloorUS(b, db, v)
			a := readApp(b, filepath.Join(out, to))
			require.GreaterOrEqual(b, a.startUS, floor)
			lat[name] = append(lat[name], float64(a.startUS-floor)/1000)
			wake[name] = append(wake[name], float64(readyAt(b, r.Stderr).UnixMicro()-floor)/1000)
			steps[name].add(b, r.Stderr, floor, a.startUS)
			s50, _ := spawnBaseline(b, app, 1)
			spawn = append(spawn, s50)
		}
		slices.Sort(spawn)
		for _, build := range bins {
			name := buildName(build)
			l, w := lat[name], wake[name]
			slices.Sort(l)
			slices.Sort(w)
			p50, p99 := percentile(l, 50), percentile(l, 99)
			recordResult(b, fmt.Sprintf("wait-latency one-at-a-time build=%s rounds=%d commit-to-app-start p50=%.1fms p99=%.1fms (target p99 20ms); "+
				"commit-to-fleetgate-ready p50=%.0fms p99=%.0fms; %s; baseline: the app spawned alone by the test starts after p50=%.1fms p99=%.1fms; load %s",
				name, rounds, p50, p99, percentile(w, 50), percentile(w, 99), steps[name], percentile(spawn, 50), percentile(spawn, 99), loadAvg()))
			if p99 > 20 {
				b.Logf("%s: p99 %.1f ms misses the target of 20 ms on this machine", name, p99)
			}
			if build == bin {
				b.ReportMetric(p50, "p50-ms")
				b.ReportMetric(p99, "p99-ms")
			}
		}
	}
}

// Scale to zero mid-deploy (Elastic Beanstalk's lost leader): every
// instance is killed with SIGKILL while the migration runs, then new
// instances start; they finish the migration and start their apps with no
// leader and no manual step.
func TestScaleToZero(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	files := fleetBuild(true)
	files["3_extra.sql"] = "-- fleetgate:up\nCREATE TABLE extra (id integer);\n"
	dir := writeFiles(t, files)
	app := script(t, readerApp)
	out := t.TempDir()
	env := []string{"APP_URL=" + url}

	const n = 9
	at := time.Now().Add(300 * time.Millisecond)
	var old []*proc
	for i := range n {
		old = append(old, startAt(t, at, env, "run", "-d", url, "--dir", dir, "--", app, filepath.Join(out, "old"+strconv.Itoa(i)), "0"))
	}
	waitRunning(t, db, "SELECT pg_sleep(2)")
	time.Sleep(500 * time.Millisecond)
	for _, p := range old {
		require.NoError(t, syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL))
	}
	killed := time.Now()
	for _, p := range old {
		require.Equal(t, 137, p.wait(t, 30*time.Second).Code)
	}
	if queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'fleetgate_migrations'") == 1 {
		require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version >= 2"), "the killed migration committed")
	}
	for i := range n {
		require.NoFileExists(t, filepath.Join(out, "old"+strconv.Itoa(i)), "an app started before its migration")
	}

	at = time.Now().Add(300 * time.Millisecond)
	var fresh []*proc
	for i := range n {
		fresh = append(fresh, startAt(t, at, env, "run", "-d", url, "--dir", dir, "--", app, filepath.Join(out, "new"+strconv.Itoa(i)), "7"))
	}
	for i, p := range fresh {
		r := p.wait(t, 2*time.Minute)
		require.Equal(t, 7, r.Code, "instance %d: %s", i, r)
		a := readApp(t, filepath.Join(out, "new"+strconv.Itoa(i)))
		require.Equal(t, "0", a.rc, a.value)
		require.Equal(t, "new", a.value)
	}
	t.Logf("from kill -9 of the whole fleet to every new instance running its app: %v", time.Since(killed).Round(time.Millisecond))
	commitFloorUS(t, db, 2)
	commitFloorUS(t, db, 3)
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"))
}
