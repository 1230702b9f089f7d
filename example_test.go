package fleetgate_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing/fstest"
	"time"

	"github.com/fleetgate/fleetgate"
)

// migrations are two small migrations, as files in a directory would be.
var migrations = fstest.MapFS{
	"0001_users.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE users (id integer PRIMARY KEY, name text);\n\n-- fleetgate:down\nDROP TABLE users;\n")},
	"0002_seed.sql":  {Data: []byte("-- fleetgate:up\nINSERT INTO users VALUES (1, 'ada');\n\n-- fleetgate:down\nDELETE FROM users;\n")},
}

// tempDB names a fresh SQLite database; the examples run anywhere.
func tempDB() (url string, cleanup func()) {
	dir, err := os.MkdirTemp("", "fleetgate-example")
	if err != nil {
		panic(err)
	}
	return "sqlite:" + filepath.Join(dir, "app.db"), func() { os.RemoveAll(dir) }
}

// Open a database and apply what is pending. Every instance of a fleet may
// do this at once: one applies, the others find the schema up to date.
func Example() {
	url, cleanup := tempDB()
	defer cleanup()
	ctx := context.Background()

	m, err := fleetgate.Open(ctx, url, migrations, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	res, err := m.Up(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("applied:", res.Applied)

	res, err = m.Up(ctx, nil)
	fmt.Println("up to date:", res.UpToDate, err)
	// Output:
	// applied: [1 2]
	// up to date: true <nil>
}

// Wait blocks until the schema this build needs is in place, without
// writing or taking the lock; a deadline ends it with a *WaitTimeoutError
// naming what is pending.
func ExampleMigrator_Wait() {
	url, cleanup := tempDB()
	defer cleanup()
	ctx := context.Background()
	m, err := fleetgate.Open(ctx, url, migrations, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	_, err = m.Wait(ctx, &fleetgate.WaitOpts{Timeout: 200 * time.Millisecond, ReportEvery: -1})
	var te *fleetgate.WaitTimeoutError
	if errors.As(err, &te) {
		fmt.Println("before up: timed out, pending", te.Pending, errors.Is(err, fleetgate.ErrTimeout))
	}
	if _, err := m.Up(ctx, nil); err != nil {
		fmt.Println(err)
		return
	}
	_, err = m.Wait(ctx, nil)
	fmt.Println("after up:", err)
	// Output:
	// before up: timed out, pending [1 2] true
	// after up: <nil>
}

// ReadinessHandler answers readiness probes: 503 until the schema this
// build needs is in place, then 200.
func ExampleMigrator_ReadinessHandler() {
	url, cleanup := tempDB()
	defer cleanup()
	ctx := context.Background()
	m, err := fleetgate.Open(ctx, url, migrations, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	h := m.ReadinessHandler(&fleetgate.ReadinessOpts{MinInterval: time.Nanosecond})

	probe := func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/ready", nil))
		fmt.Print(w.Code, " ", w.Body.String())
	}
	probe()
	if _, err := m.Up(ctx, nil); err != nil {
		fmt.Println(err)
		return
	}
	probe()
	// Output:
	// 503 {"ready":false,"pending":[1,2]}
	// 200 {"ready":true}
}

// CheckFiles lints migrations without a database: here a column dropped
// in the pre phase, while the old code still reads it, which also warns
// that running code's prepared SELECT * statements on users go stale.
func ExampleCheckFiles() {
	fsys := fstest.MapFS{
		"0003_drop.sql": {Data: []byte("-- fleetgate:up\nALTER TABLE users DROP COLUMN name;\n")},
	}
	rep, err := fleetgate.CheckFiles(context.Background(), fsys, nil, nil)
	for _, f := range rep.Findings {
		fmt.Println(f.Rule, f.Blocking())
	}
	var ce *fleetgate.CheckError
	fmt.Println("refused:", errors.As(err, &ce))
	// Output:
	// drop-column true
	// invalidates-cached-plans false
	// refused: true
}

// Config.Dialect says what SQL the files are when no database does: here
// MySQL's, with a backtick-quoted table and a # comment, and an ALTER that
// names no ALGORITHM, so the server may copy the table.
func ExampleCheckFiles_mySQL() {
	fsys := fstest.MapFS{
		"0004_nick.sql": {Data: []byte("-- fleetgate:up\n# nicknames\nALTER TABLE `users` ADD COLUMN nick VARCHAR(64) NULL;\n")},
	}
	rep, _ := fleetgate.CheckFiles(context.Background(), fsys, nil, &fleetgate.Config{Dialect: fleetgate.MySQL})
	for _, f := range rep.Findings {
		fmt.Println(f.Line, f.Rule, f.Blocking())
	}
	// Output:
	// 3 require-online-alter true
}
