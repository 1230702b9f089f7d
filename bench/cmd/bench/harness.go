package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// harness holds the throwaway server, the generated migration sets and the
// template databases shared by the scenarios.
type harness struct {
	srv     *server
	admin   *pgx.Conn // CREATE / DROP DATABASE
	monitor *pgx.Conn // pg_stat_activity polling; one user at a time
	work    string    // temp dir for migration sets and tool working dirs

	mu        sync.Mutex
	sets      map[string]string
	templates map[string]string
	dbSeq     int

	toolTimeout time.Duration

	// my, when set, makes this the MariaDB harness: the same scenarios on
	// a MariaDB server, reached through database/sql (myAdmin; myMonitor
	// holds one connection for the sampling). MariaDB has no template
	// databases: a start state is built by the tool itself, once per
	// trial, except the all-applied one of the no-op scenario, which no
	// trial changes and which is kept (keep) and reused.
	my        *myServer
	myAdmin   *sql.DB
	myMonitor *sql.DB
	keep      map[string]bool
}

// newMyHarness is newHarness for a MariaDB server.
func newMyHarness(ctx context.Context, srv *myServer) (*harness, error) {
	h := &harness{my: srv, sets: map[string]string{}, templates: map[string]string{}, keep: map[string]bool{}, toolTimeout: 3 * time.Minute}
	var err error
	if h.work, err = os.MkdirTemp("", "fleetgate-bench-"); err != nil {
		return nil, err
	}
	if err := markOwned(h.work); err != nil {
		return nil, err
	}
	if h.myAdmin, err = sql.Open("mysql", srv.dsn("")); err != nil {
		return nil, err
	}
	if h.myMonitor, err = sql.Open("mysql", srv.dsn("")); err != nil {
		return nil, err
	}
	h.myMonitor.SetMaxOpenConns(1)
	return h, h.myAdmin.PingContext(ctx)
}

// url is database db as tool t is told it.
func (h *harness) url(t *tool, db string) string {
	if h.my != nil {
		return h.my.toolURL(t, db)
	}
	return h.srv.url(db)
}

// verify checks db against e (see verify and verifyMySQL).
func (h *harness) verify(ctx context.Context, t *tool, db string, e expectation) (dbState, error) {
	if h.my != nil {
		return verifyMySQL(ctx, t, h.my.dsn(db), e)
	}
	return verify(ctx, t, h.srv.url(db), e)
}

// startDB returns a new database in which t applied the first from
// migrations of spec: a copy of the template on PostgreSQL; on MariaDB
// one the tool migrates now (not timed), or, for the all-applied state,
// the one database kept for it.
func (h *harness) startDB(ctx context.Context, t *tool, spec setSpec, from int) (string, error) {
	if h.my == nil {
		tpl := ""
		if from > 0 {
			var err error
			if tpl, err = h.template(ctx, t, spec, from); err != nil {
				return "", fmt.Errorf("setup: %w", err)
			}
		}
		return h.createDB(ctx, tpl)
	}
	if from == 0 {
		return h.createDB(ctx, "")
	}
	if from == spec.N {
		db, err := h.template(ctx, t, spec, from)
		if err != nil {
			return "", fmt.Errorf("setup: %w", err)
		}
		return db, nil
	}
	db, err := h.migrated(ctx, t, spec, from)
	if err != nil {
		return "", fmt.Errorf("setup: %w", err)
	}
	return db, nil
}

func newHarness(ctx context.Context, srv *server) (*harness, error) {
	h := &harness{srv: srv, sets: map[string]string{}, templates: map[string]string{}, toolTimeout: 3 * time.Minute}
	var err error
	if h.work, err = os.MkdirTemp("", "fleetgate-bench-"); err != nil {
		return nil, err
	}
	if err := markOwned(h.work); err != nil {
		return nil, err
	}
	if h.admin, err = pgx.Connect(ctx, srv.url("postgres")); err != nil {
		return nil, err
	}
	if h.monitor, err = pgx.Connect(ctx, srv.url("postgres")); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *harness) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if h.myAdmin != nil {
		_ = h.myAdmin.Close()
	}
	if h.myMonitor != nil {
		_ = h.myMonitor.Close()
	}
	if h.admin != nil {
		_ = h.admin.Close(ctx)
	}
	if h.monitor != nil {
		_ = h.monitor.Close(ctx)
	}
	if h.work != "" {
		_ = os.RemoveAll(h.work)
	}
}

// set returns the path of the first upto migrations of spec in t's format,
// writing them on first use.
func (h *harness) set(t *tool, spec setSpec, upto int) (string, []migration, error) {
	return h.setFrom(t, spec, 0, upto)
}

// setFrom is set for a database where the first from migrations are
// applied (it differs only for psql; see writeSetFrom).
func (h *harness) setFrom(t *tool, spec setSpec, from, upto int) (string, []migration, error) {
	ms := generate(spec)
	if !t.Floor {
		from = 0
	}
	key := fmt.Sprintf("%s-%s-f%d-u%d", t.Format, spec.key(), from, upto)
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.sets[key]; ok {
		return p, ms, nil
	}
	p, err := writeSetFrom(t.Format, filepath.Join(h.work, "sets", key), ms, from, upto)
	if err != nil {
		return "", nil, err
	}
	h.sets[key] = p
	return p, ms, nil
}

// createDB creates a fresh database, empty or as a copy of template.
func (h *harness) createDB(ctx context.Context, template string) (string, error) {
	h.mu.Lock()
	h.dbSeq++
	name := fmt.Sprintf("bench_%d", h.dbSeq)
	h.mu.Unlock()
	if h.my != nil {
		_, err := h.myAdmin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4")
		return name, err
	}
	if template == "" {
		template = "template0"
	}
	_, err := h.admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize()))
	return name, err
}

func (h *harness) dropDB(ctx context.Context, name string) {
	if h.my != nil {
		h.mu.Lock()
		kept := h.keep[name]
		h.mu.Unlock()
		if !kept {
			_, _ = h.myAdmin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS `"+name+"`")
		}
		return
	}
	_, _ = h.admin.Exec(context.WithoutCancel(ctx), fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, pgx.Identifier{name}.Sanitize()))
}

// runUp runs t's `up` against db with the migrations at path.
func (h *harness) runUp(t *tool, db, path string) runResult {
	return runProc(h.work, h.toolTimeout, t.Bin, t.upArgs(h.url(t, db), path)...)
}

// template returns a database in which t applied the first upto migrations
// of spec (verified), for use as CREATE DATABASE ... TEMPLATE.
func (h *harness) template(ctx context.Context, t *tool, spec setSpec, upto int) (string, error) {
	key := fmt.Sprintf("%s-%s-u%d", t.Name, spec.key(), upto)
	h.mu.Lock()
	name, ok := h.templates[key]
	h.mu.Unlock()
	if ok {
		return name, nil
	}
	db, err := h.migrated(ctx, t, spec, upto)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	h.templates[key] = db
	if h.keep != nil {
		h.keep[db] = true
	}
	h.mu.Unlock()
	return db, nil
}

// migrated returns a new database in which t applied the first upto
// migrations of spec, verified.
func (h *harness) migrated(ctx context.Context, t *tool, spec setSpec, upto int) (string, error) {
	path, ms, err := h.set(t, spec, upto)
	if err != nil {
		return "", err
	}
	db, err := h.createDB(ctx, "")
	if err != nil {
		return "", err
	}
	r := h.runUp(t, db, path)
	if r.Code != 0 {
		h.dropDB(ctx, db)
		return "", fmt.Errorf("%s up (setup, %d migrations): exit %d: %s", t.Name, upto, r.Code, errLines(r.Output, 3))
	}
	if _, err := h.verify(ctx, t, db, expect(ms, upto)); err != nil {
		h.dropDB(ctx, db)
		return "", fmt.Errorf("%s up (setup, %d migrations): %w", t.Name, upto, err)
	}
	return db, nil
}

// adopt registers db, in which t applied the first upto migrations of spec
// (verified), as that state's template unless one exists already.
func (h *harness) adopt(t *tool, spec setSpec, upto int, db string) bool {
	if t.Floor {
		return false
	}
	key := fmt.Sprintf("%s-%s-u%d", t.Name, spec.key(), upto)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.templates[key]; ok {
		return false
	}
	h.templates[key] = db
	if h.keep != nil {
		h.keep[db] = true
	}
	return true
}

// connections returns the number of client sessions connected to db
// (autovacuum workers, which also show the database, are not
// connections: after a thousand schemas' DDL one ran beside the tools).
func (h *harness) connections(ctx context.Context, db string) (int, error) {
	var n int
	if h.my != nil {
		err := h.myMonitor.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = ?`, db).Scan(&n)
		return n, err
	}
	err := h.monitor.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`, db).Scan(&n)
	return n, err
}

// pollPeak samples the number of sessions on db every 10 ms until the
// returned function is called, which returns the peak.
func (h *harness) pollPeak(ctx context.Context, db string) func() int {
	done := make(chan struct{})
	result := make(chan int, 1)
	go func() {
		peak := 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if n, err := h.connections(ctx, db); err == nil && n > peak {
				peak = n
			}
			select {
			case <-done:
				result <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() int { close(done); return <-result }
}

// effectPresent tells whether migration m's change is visible in db, as an
// operator would check before forcing golang-migrate's version.
func (h *harness) effectPresent(ctx context.Context, db string, m migration) (bool, error) {
	if h.my != nil {
		return h.effectPresentMySQL(ctx, db, m)
	}
	c, err := pgx.Connect(ctx, h.srv.url(db))
	if err != nil {
		return false, err
	}
	defer c.Close(ctx)
	var present bool
	switch m.Kind {
	case "counter", "table":
		err = c.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+m.Table).Scan(&present)
	case "column":
		err = c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 AND column_name = $2)`, m.Table, m.Column).Scan(&present)
	case "data":
		err = c.QueryRow(ctx, `SELECT coalesce((SELECT n FROM counter WHERE id = 1), 0) > 0`).Scan(&present)
	}
	return present, err
}

// errLines picks what explains a failure from a tool's output: the first n
// lines that mention an error, else the last n lines.
func errLines(s string, n int) string {
	var hits, all []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		all = append(all, l)
		low := strings.ToLower(l)
		if strings.Contains(low, "error") || strings.Contains(low, "fatal") || strings.Contains(low, "panic") || strings.Contains(low, "dirty") {
			hits = append(hits, l)
		}
	}
	if len(hits) == 0 {
		hits = all[max(0, len(all)-n):]
	}
	if len(hits) > n {
		hits = append(hits[:n], "…")
	}
	return strings.Join(hits, " | ")
}

func firstLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, " | ")
}
