package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// BenchmarkWake100 measures how fast 100 waiting instances (`fleetgate run
// --wait-only -- app`, all on this machine) start their apps after the
// migration they wait for commits, and how many database connections they
// hold while waiting. Latency runs from the apply event's timestamp (just
// before the commit, so it errs high) to each app's first instruction.
//
//	go test ./e2e -run '^$' -bench Wake100 -benchtime 1x
//
// scripts/bench-wake.sh runs it and records the results.
func BenchmarkWake100(b *testing.B) {
	heavy.Lock()
	defer heavy.Unlock()
	for _, mode := range []string{"Direct", "PgBouncer"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				wakeRound(b, 100, mode == "PgBouncer")
			}
		})
	}
}

// waitUntil polls cond for up to a minute.
func waitUntil(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wakeRound(b *testing.B, waiters int, pooled bool) {
	b.Helper()
	url := dbtest.Postgres(b)
	target := url
	if pooled {
		target = dbtest.PgBouncer(b, url)
	}
	db := openDB(b, url)
	db.SetMaxOpenConns(1)
	dir := writeFiles(b, gatedBuild())
	require.Equal(b, 0, fg(b, nil, "up", "-d", target, "--dir", dir, "--to", "1").Code)
	app := script(b, stampApp)
	out := b.TempDir()

	// Directly, only the notification can wake the waiters in time.
	poll := "10s"
	if pooled {
		poll = "1s"
	}
	up := start(b, nil, "up", "-d", target, "--dir", dir)
	waitUntil(b, func() bool {
		return queryInt(b, db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%SELECT pg_sleep(2)%' AND state = 'active'") > 0
	})
	ps := make([]*proc, waiters)
	for i := range ps {
		ps[i] = start(b, nil, "run", "--wait-only", "--poll", poll, "--log-format", "json", "-d", target+"&application_name=fg_waiter",
			"--dir", dir, "--", app, filepath.Join(out, strconv.Itoa(i)))
	}
	var conns, server int
	if pooled {
		waitUntil(b, func() bool { return bouncerClients(b, target, "fg_waiter") == waiters })
		time.Sleep(time.Second)
		conns = bouncerClients(b, target, "fg_waiter")
		server = queryInt(b, db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
	} else {
		waitUntil(b, func() bool {
			return queryInt(b, db, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fg_waiter'
				AND state = 'idle' AND (query LIKE 'SELECT version,%' OR query LIKE 'SELECT holder,%')`) == waiters
		})
		conns = queryInt(b, db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fg_waiter'")
		server = conns
	}
	b.ResetTimer()
	openGate(b, db)
	require.Equal(b, 0, up.wait(b, time.Minute).Code)
	for i, p := range ps {
		r := p.wait(b, 2*time.Minute)
		require.Equal(b, 0, r.Code, "waiter %d: %s", i, r)
	}
	b.StopTimer()
	floor := commitFloorUS(b, db, 2)
	var lat, wake []float64
	for i, p := range ps {
		a := readApp(b, filepath.Join(out, strconv.Itoa(i)))
		require.GreaterOrEqual(b, a.startUS, floor, "app %d started before the commit", i)
		lat = append(lat, float64(a.startUS-floor)/1000)
		wake = append(wake, float64(readyAt(b, p.res.Stderr).UnixMicro()-floor)/1000)
	}
	slices.Sort(lat)
	slices.Sort(wake)
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(percentile(wake, 99), "ready-p99-ms")
	b.ReportMetric(float64(conns), "conns")
	mode := "direct (LISTEN/NOTIFY)"
	if pooled {
		mode = "PgBouncer transaction pooling (polling, 1s)"
	}
	recordResult(b, fmt.Sprintf("wake-bench %s waiters=%d commit-to-app-start p50=%.1fms p99=%.1fms; commit-to-fleetgate-ready p50=%.0fms p99=%.0fms; "+
		"connections held while waiting: %d client, %d server; load %s",
		mode, waiters, p50, p99, percentile(wake, 50), percentile(wake, 99), conns, server, loadAvg()))
}
