package e2e

import (
	"database/sql"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// userLockWaiters counts the sessions blocked in GET_LOCK: waiters for the
// migration lock that sleep until the holder lets go, instead of polling.
func userLockWaiters(t *testing.T, db *sql.DB) int {
	return myCount(t, db, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND STATE = 'User lock'")
}

// holdWithSleep starts `up` on dir and returns once it runs the migration
// that sleeps, that is while it holds the lock.
func holdWithSleep(t *testing.T, db *sql.DB, url, dir, sleep string) *proc {
	t.Helper()
	p := start(t, nil, "up", "-d", url, "--dir", dir)
	waitFor(t, time.Minute, func() bool {
		return myCount(t, db, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE ?", "SELECT "+sleep+"%") == 1
	})
	return p
}

// On MariaDB a runner that waits for the lock blocks on the holder's named
// lock (there are no notifications to listen for), and proceeds when the
// holder is done: here it finds everything applied and exits 0 without
// taking the lock.
func TestMySQLWaiterSleepsUntilRelease(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	url := mariadbURL(t)
	db := openDB(t, url)
	dir := writeFiles(t, raceSet(4, 2, 3, "SLEEP(6)"))
	holder := holdWithSleep(t, db, url, dir, "SLEEP(6)")
	waiter := start(t, nil, "up", "-d", url, "--dir", dir)
	waitFor(t, time.Minute, func() bool { return userLockWaiters(t, db) == 1 })
	rh := holder.wait(t, time.Minute)
	require.Equal(t, 0, rh.Code, rh.String())
	released := time.Now()
	rw := waiter.wait(t, time.Minute)
	require.Equal(t, 0, rw.Code, rw.String())
	require.Contains(t, rw.Stderr, "another instance applied the pending migrations", rw.String())
	t.Logf("the waiter exited %v after the holder", time.Since(released).Round(time.Millisecond))
	requireExactlyOnce(t, db, 4)
	require.Equal(t, 0, myCount(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"))
	require.Equal(t, 0, myCount(t, db, "SELECT count(*) FROM fleetgate_lock WHERE generation <> 1"), "the waiter took the lock after all")
}

// kill -9 of the holder while a runner waits on its named lock: the dead
// runner's connections close, which wakes the waiter, and the lease row
// alone decides when it may take over (the dead session's grace). The
// waiter then finishes the work, every migration once.
func TestMySQLWaiterTakesOverKilledHolder(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	url := mariadbURL(t)
	db := openDB(t, url)
	dir := writeFiles(t, raceSet(4, 2, 3, "SLEEP(3)"))
	holder := holdWithSleep(t, db, url, dir, "SLEEP(3)")
	waiter := start(t, nil, "up", "-d", url, "--dir", dir)
	waitFor(t, time.Minute, func() bool { return userLockWaiters(t, db) == 1 })
	require.NoError(t, syscall.Kill(-holder.cmd.Process.Pid, syscall.SIGKILL))
	rh := holder.wait(t, time.Minute)
	require.Equal(t, 137, rh.Code, rh.String())
	killed := time.Now()
	rw := waiter.wait(t, 2*time.Minute)
	require.Equal(t, 0, rw.Code, rw.String())
	t.Logf("the waiter finished %v after the kill", time.Since(killed).Round(time.Millisecond))
	requireExactlyOnce(t, db, 4)
	require.True(t, myTableExists(t, db, "t3"))
	require.True(t, myTableExists(t, db, "t4"))
	require.Equal(t, 2, myCount(t, db, "SELECT generation FROM fleetgate_lock"), "the waiter took the lease over from the killed holder")
	require.Equal(t, 0, myCount(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"))
}
