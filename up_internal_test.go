package fleetgate

import (
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/lock"
)

// An Up whose wait for the lock runs out says what Wait says: what is
// pending and who holds the lock, as a *WaitTimeoutError matching
// ErrTimeout, and applies nothing.
func TestUpTimeoutNamesHolder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fsys := fstest.MapFS{"001_a.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE a (id int);\n")}}
	m, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "x.db"), fsys, &Config{Init: true})
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.d.EnsureTables(ctx, m.db))
	l, err := lock.Acquire(ctx, m.d, m.db, history.Actor{Host: "holder-host", PID: 4242, DeployID: "d1"}, lock.Options{TTL: time.Minute})
	require.NoError(t, err)
	defer l.Release(ctx)

	_, err = m.Up(ctx, &UpOpts{Timeout: 300 * time.Millisecond})
	require.ErrorIs(t, err, ErrTimeout)
	var te *WaitTimeoutError
	require.True(t, errors.As(err, &te), "got %T: %v", err, err)
	require.Equal(t, []int64{1}, te.Pending)
	require.NotNil(t, te.Holder)
	require.Equal(t, "holder-host", te.Holder.Host)
	require.Equal(t, 4242, te.Holder.PID)
	require.Contains(t, err.Error(), `lock held by holder-host pid 4242 deploy "d1"`)
	rows, err := m.d.ReadApplied(ctx, m.db, driver.RowColumns)
	require.NoError(t, err)
	require.Empty(t, rows)
}
