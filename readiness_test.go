package fleetgate_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

func probe(t *testing.T, h http.Handler) (int, fleetgate.Readiness) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body fleetgate.Readiness
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	return rec.Code, body
}

// probeUntil probes until changed says the answer moved on from the last
// one (the answer may come from memory for MinInterval), and returns it.
func probeUntil(t *testing.T, h http.Handler, changed func(int, fleetgate.Readiness) bool) (int, fleetgate.Readiness) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := probe(t, h)
		if changed(code, body) || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(time.Millisecond)
	}
}

// 503 naming the pending versions until the schema is ready, then 200;
// once ready, probes never reach the database again.
func TestReadinessHandler(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			m := open(t, url, 3)
			h := m.ReadinessHandler(&fleetgate.ReadinessOpts{MinInterval: time.Millisecond})

			code, body := probe(t, h)
			require.Equal(t, http.StatusServiceUnavailable, code)
			require.Equal(t, fleetgate.Readiness{Pending: []int64{1, 2, 3}}, body)

			_, err := open(t, url, 3).Up(t.Context(), &fleetgate.UpOpts{To: 2})
			require.NoError(t, err)
			code, body = probeUntil(t, h, func(_ int, r fleetgate.Readiness) bool { return len(r.Pending) != 3 })
			require.Equal(t, http.StatusServiceUnavailable, code)
			require.Equal(t, fleetgate.Readiness{Pending: []int64{3}}, body)

			_, err = open(t, url, 3).Up(t.Context(), nil)
			require.NoError(t, err)
			code, body = probeUntil(t, h, func(_ int, r fleetgate.Readiness) bool { return len(r.Pending) != 1 })
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, fleetgate.Readiness{Ready: true}, body)

			// No database round trip per probe once ready: with the
			// database gone, the answer stays.
			require.NoError(t, m.DB().Close())
			for range 3 {
				code, _ = probe(t, h)
				require.Equal(t, http.StatusOK, code)
			}
		})
	}
}

// While the schema is not ready, concurrent probes share one read of the
// history, and reads are at least MinInterval apart.
func TestReadinessCoalescesReads(t *testing.T) {
	t.Parallel()
	url := dbtest.Postgres(t)
	ctx := t.Context()
	_, err := open(t, url, 3).Up(ctx, &fleetgate.UpOpts{To: 1})
	require.NoError(t, err)
	m := open(t, url, 3)
	h := m.ReadinessHandler(&fleetgate.ReadinessOpts{MinInterval: time.Hour, CheckTimeout: time.Minute})

	// Hold the history table so that a read blocks, and count the reads
	// that queue behind it.
	admin := open(t, url, 3).DB()
	tx, err := admin.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.Exec("LOCK TABLE fleetgate_migrations IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	blocked := func() int {
		var n int
		require.NoError(t, admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'SELECT version,%'`).Scan(&n))
		return n
	}
	serve := func(ctx context.Context, code *int, body *fleetgate.Readiness) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil).WithContext(ctx))
		*code = rec.Code
		_ = json.Unmarshal(rec.Body.Bytes(), body)
	}

	// The first probe reads, and its read waits behind the lock.
	var firstCode int
	var first fleetgate.Readiness
	firstDone := make(chan struct{})
	go func() {
		defer close(firstDone)
		serve(ctx, &firstCode, &first)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for blocked() == 0 {
		require.True(t, time.Now().Before(deadline), "the first probe's read never reached the locked table")
		time.Sleep(10 * time.Millisecond)
	}

	// Probes that come meanwhile wait for that read instead of reading
	// themselves. Whether a probe waits or reads is told apart by
	// cancelling it: a waiting probe gives up at once, while a read runs
	// to its end whatever the probe does (so that the probes waiting for
	// it get their answer), here not before the lock is released.
	const probes = 19
	codes := make([]int, probes)
	bodies := make([]fleetgate.Readiness, probes)
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range probes {
		wg.Go(func() { serve(pctx, &codes[i], &bodies[i]) })
	}
	cancel()
	waited := make(chan struct{})
	go func() {
		wg.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("cancelled probes did not return: they read the history themselves instead of sharing the read in flight")
	}
	require.Equal(t, 1, blocked(), "concurrent probes each read the history")
	for i := range probes {
		require.Equal(t, http.StatusServiceUnavailable, codes[i])
		require.Equal(t, fleetgate.Readiness{Error: "probe cancelled before the check ended"}, bodies[i])
	}
	require.NoError(t, tx.Rollback())
	<-firstDone
	require.Equal(t, http.StatusServiceUnavailable, firstCode)
	require.Equal(t, fleetgate.Readiness{Pending: []int64{2, 3}}, first)

	// Within MinInterval the answer comes from memory: even with the
	// database gone.
	require.NoError(t, m.DB().Close())
	code, body := probe(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, []int64{2, 3}, body.Pending)
	require.Empty(t, body.Error)
}
