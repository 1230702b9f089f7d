package drivertest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	"github.com/fleetgate/fleetgate/internal/driver/sqlite"
)

// recorder stands in for the testing.TB of one case: it records failures
// instead of reporting them, and ends the case's goroutine on a fatal one
// as testing does. Everything else (cleanups, temporary directories, the
// context, logs) is the real test's.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *recorder) note(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, msg)
}
func (r *recorder) Errorf(format string, args ...any) { r.note(fmt.Sprintf(format, args...)) }
func (r *recorder) Error(args ...any)                 { r.note(fmt.Sprint(args...)) }
func (r *recorder) Fail()                             { r.note("Fail") }
func (r *recorder) FailNow()                          { r.note("FailNow"); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); r.FailNow() }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); r.FailNow() }
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.failed) > 0
}

// runCase runs one case under a recorder and returns what it recorded.
func runCase(t *testing.T, c drivertest.Case, open drivertest.Opener) []string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(r, open)
	}()
	<-done
	return r.failed
}

// opener gives each case a fresh SQLite file and the driver wrap makes.
func opener(wrap func(*sqlite.Driver) driver.Driver) drivertest.Opener {
	return func(t testing.TB) *drivertest.Target {
		tg := drivertest.OpenURL(t, dbtest.SQLite(t))
		tg.Driver = wrap(tg.Driver.(*sqlite.Driver))
		return tg
	}
}

// honest passes everything through: under the recorder it must pass every
// case, or the recorder, not the driver, would be what fails below.
type honest struct{ *sqlite.Driver }

// stealing takes a held lock as if its holder were proven dead: its
// try-acquire ignores the lease.
type stealing struct{ *sqlite.Driver }

func (d stealing) TryAcquire(ctx context.Context, conn *sql.Conn, p *driver.AcquireParams) (int64, *driver.Holder, error) {
	gen, h, err := d.Driver.TryAcquire(ctx, conn, p)
	if err != nil || h == nil {
		return gen, h, err
	}
	q := *p
	q.StaleToken = h.Token
	return d.Driver.TryAcquire(ctx, conn, &q)
}

// unfenced commits under whatever lease is current, not the one the record
// names: a stale holder's commit goes through.
type unfenced struct{ *sqlite.Driver }

type unfencedTx struct {
	driver.Tx
	d *sqlite.Driver
}

func (d unfenced) Begin(ctx context.Context, conn *sql.Conn, opts *driver.TxOptions) (driver.Tx, error) {
	tx, err := d.Driver.Begin(ctx, conn, opts)
	if err != nil {
		return nil, err
	}
	return unfencedTx{tx, d.Driver}, nil
}

func (t unfencedTx) Commit(ctx context.Context, rec *driver.Record) error {
	if h, err := t.d.ReadHolder(ctx, t.Tx); err == nil && h != nil {
		r := *rec
		r.Token, r.Generation = h.Token, h.Generation
		rec = &r
	}
	return t.Tx.Commit(ctx, rec)
}

// blind loses the database's error on commit, keeping only its text: a
// duplicate history row then looks like any other failure.
type blind struct{ *sqlite.Driver }

type blindTx struct{ driver.Tx }

func (d blind) Begin(ctx context.Context, conn *sql.Conn, opts *driver.TxOptions) (driver.Tx, error) {
	tx, err := d.Driver.Begin(ctx, conn, opts)
	if err != nil {
		return nil, err
	}
	return blindTx{tx}, nil
}

func (t blindTx) Commit(ctx context.Context, rec *driver.Record) error {
	if err := t.Tx.Commit(ctx, rec); err != nil {
		return errors.New(err.Error())
	}
	return nil
}

// forgetful renews whatever it is asked to, lost lease or not: a holder
// that was taken over never finds out.
type forgetful struct{ *sqlite.Driver }

func (forgetful) Renew(context.Context, *sql.Conn, string, int64, time.Duration, int64) error {
	return nil
}

// The suite can fail: each deliberately broken driver fails the case that
// states the property it breaks, while the same driver unbroken passes
// every case under the same recorder.
func TestSuiteCatchesBrokenDrivers(t *testing.T) {
	t.Parallel()
	for _, c := range drivertest.Cases() {
		t.Run("honest/"+c.Name, func(t *testing.T) {
			t.Parallel()
			failed := runCase(t, c, opener(func(d *sqlite.Driver) driver.Driver { return honest{d} }))
			require.Empty(t, failed, "the unbroken driver failed under the recorder")
		})
	}
	for _, tc := range []struct {
		name, breaks string
		wrap         func(*sqlite.Driver) driver.Driver
	}{
		{"stealing try-acquire", "TryAcquireNeverBlocksNorQueues", func(d *sqlite.Driver) driver.Driver { return stealing{d} }},
		{"stealing try-acquire", "SessionDeath", func(d *sqlite.Driver) driver.Driver { return stealing{d} }},
		{"unfenced commit", "ExpiryTakeoverFenced", func(d *sqlite.Driver) driver.Driver { return unfenced{d} }},
		{"forgetful renewal", "Renew", func(d *sqlite.Driver) driver.Driver { return forgetful{d} }},
		{"forgetful renewal", "ExpiryTakeoverFenced", func(d *sqlite.Driver) driver.Driver { return forgetful{d} }},
		{"blind classes", "ErrorClasses", func(d *sqlite.Driver) driver.Driver { return blind{d} }},
	} {
		t.Run(tc.name+"/"+tc.breaks, func(t *testing.T) {
			t.Parallel()
			var c drivertest.Case
			for _, cc := range drivertest.Cases() {
				if cc.Name == tc.breaks {
					c = cc
				}
			}
			require.NotNil(t, c.Run, "no case %s", tc.breaks)
			failed := runCase(t, c, opener(tc.wrap))
			require.NotEmpty(t, failed, "a driver with a %s passed %s", tc.name, tc.breaks)
			t.Logf("%s fails %s: %s", tc.name, tc.breaks, gist(failed[0]))
		})
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(dbtest.M(m)) }

// gist is the line of a testify failure that says what went wrong.
func gist(failure string) string {
	for _, line := range strings.Split(failure, "\n") {
		if _, msg, ok := strings.Cut(line, "Messages:"); ok {
			return strings.TrimSpace(msg)
		}
	}
	return strings.TrimSpace(failure)
}
