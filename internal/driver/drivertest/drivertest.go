// Package drivertest is the conformance suite of fleetgate's drivers: one
// set of cases, in the way River's riverdrivertest does it, that every
// driver runs from its own test file against a real database:
//
//	func TestConformance(t *testing.T) {
//		drivertest.Run(t, func(t testing.TB) *drivertest.Target { ... })
//	}
//
// The cases state, through the driver.Driver interface alone, everything
// the lock package and the executor rely on: try-acquire never blocks and
// never queues; renewals extend the lease and fail once it is lost; an
// expired lease is taken over under a new generation, and the stale
// holder can commit nothing (the fence); a holder's dead session frees the
// lock where the database tracks sessions, and proves nothing where it does
// not; a release wakes waiters; history rows and events round trip, and
// events are only ever appended; errors fall into the classes callers
// branch on; a migration that runs outside a transaction records its
// progress and resumes; the history tables of the tools fleetgate adopts
// (goose, golang-migrate, dbmate, flyway) read back as the tool wrote
// them, and adopting their versions records each once, fenced.
//
// A driver that passes this suite is correct by definition: nothing above
// the driver may depend on a behaviour the suite does not check, and a
// bug found above it that comes from a driver becomes a case here first.
package drivertest

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// Target is one database a driver is tested against.
type Target struct {
	// Driver is the driver under test, made for the default tables
	// (driver.NewTables("fleetgate_migrations")), which do not exist yet.
	Driver driver.Driver
	// DB is a pool on a fresh database of the test's own.
	DB *sql.DB
	// KillSession ends the server session behind conn from outside, as an
	// operator's terminate or a server-side timeout would, and returns
	// once it is gone. nil where the database has no server sessions
	// (SQLite).
	KillSession func(ctx context.Context, conn *sql.Conn) error
	// ReadOnly returns a pool on the same database whose credentials may
	// read fleetgate's tables but not write them. nil where the setup
	// cannot make one (a pooler that admits one user); another setup of
	// the same driver then proves the permission class.
	ReadOnly func(t testing.TB) *sql.DB
}

// Opener gives each case a Target on a database of its own; whatever it
// starts is stopped by t's cleanups.
type Opener func(t testing.TB) *Target

// Case is one property of the suite. Its Run takes a testing.TB so that a
// test of the suite itself can run it under a recorder and see it fail.
type Case struct {
	Name string
	Run  func(t testing.TB, open Opener)
}

// Cases are the suite's cases, in the order Run runs them.
func Cases() []Case {
	return []Case{
		{"TryAcquireNeverBlocksNorQueues", tryAcquire},
		{"Renew", renew},
		{"ExpiryTakeoverFenced", expiryTakeover},
		{"SessionDeath", sessionDeath},
		{"ReleaseWakesWaiters", releaseWakes},
		{"HistoryRoundTrip", historyRoundTrip},
		{"AppliedOnce", appliedOnce},
		{"EventsRoundTrip", eventsRoundTrip},
		{"EventsAppendOnly", eventsAppendOnly},
		{"ErrorClasses", errorClasses},
		{"NoTransactionProgress", noTxProgress},
		{"LegacyHistory", legacyHistory},
		{"AdoptRecords", adoptRecords},
	}
}

// Run runs every case as a parallel subtest of t.
func Run(t *testing.T, open Opener) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			c.Run(t, open)
		})
	}
}

// patience bounds every condition wait of the suite: generous, because the
// machines that run it are often loaded, and never part of what is proven.
const patience = 30 * time.Second

// OpenURL opens a fleetgate database URL the way fleetgate does, through
// the engine that registered its scheme, and returns a Target with that
// engine's driver for the default tables. The pool is closed by t's
// cleanups; the caller adds KillSession and ReadOnly where it can.
func OpenURL(t testing.TB, url string) *Target {
	t.Helper()
	scheme, _, _ := strings.Cut(url, ":")
	e := driver.ForScheme(scheme)
	require.NotNil(t, e, "no engine registered for %s: (import its driver package)", scheme)
	db, err := e.Open(url, func(string) string { return scheme + ":…" })
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	tables, err := driver.NewTables("fleetgate_migrations")
	require.NoError(t, err)
	d, err := e.New(tables)
	require.NoError(t, err)
	return &Target{Driver: d, DB: db}
}
