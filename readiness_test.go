package fleetgate_test

import (
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
			time.Sleep(5 * time.Millisecond)
			code, body = probe(t, h)
			require.Equal(t, http.StatusServiceUnavailable, code)
			require.Equal(t, []int64{3}, body.Pending)

			_, err = open(t, url, 3).Up(t.Context(), nil)
			require.NoError(t, err)
			time.Sleep(5 * time.Millisecond)
			code, body = probe(t, h)
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
	h := m.ReadinessHandler(&fleetgate.ReadinessOpts{MinInterval: time.Hour})

	// Hold the history table so that a read blocks, and count the reads
	// that queue behind it.
	admin := open(t, url, 3).DB()
	tx, err := admin.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.Exec("LOCK TABLE fleetgate_migrations IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	const probes = 20
	codes := make([]int, probes)
	bodies := make([]fleetgate.Readiness, probes)
	var wg sync.WaitGroup
	for i := range probes {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			codes[i] = rec.Code
			_ = json.Unmarshal(rec.Body.Bytes(), &bodies[i])
		})
	}
	blocked := func() int {
		var n int
		require.NoError(t, admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'SELECT version,%'`).Scan(&n))
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for blocked() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // give the other probes every chance to read too
	require.Equal(t, 1, blocked(), "concurrent probes each read the history")
	require.NoError(t, tx.Rollback())
	wg.Wait()
	for i := range probes {
		require.Equal(t, http.StatusServiceUnavailable, codes[i])
		require.Equal(t, []int64{2, 3}, bodies[i].Pending)
	}

	// Within MinInterval the answer comes from memory: even with the
	// database gone.
	require.NoError(t, m.DB().Close())
	code, body := probe(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, []int64{2, 3}, body.Pending)
	require.Empty(t, body.Error)
}
