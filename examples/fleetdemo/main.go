// Command fleetdemo is the sample service of docs/deploy.md: a small HTTP
// service over one table, in three builds that take a column rename
// through expand and contract while a fleet of them serves traffic.
//
//	v1 reads and writes people.name (migrations/v1)
//	v2 adds people.full_name (pre phase), writes both, reads full_name
//	v3 drops people.name (post phase), reads and writes full_name
//
// The build is chosen by FLEETDEMO_VERSION (v1, v2 or v3), so that one
// binary plays all three. It is meant to run under `fleetgate run`, which
// applies or waits for the build's migrations before starting it, so it is
// ready as soon as it listens:
//
//	fleetgate run -d "$DATABASE_URL" --dir migrations/v2 -- fleetdemo
//
// Environment: DATABASE_URL; FLEETDEMO_ADDR (default 127.0.0.1:8080; port
// 0 picks a free one); FLEETDEMO_ADDR_FILE, when set, receives the address
// it listens on;
// FLEETDEMO_VERSION; FLEETDEMO_HOOK=1 to retry statements whose cached plan
// a migration made stale (package pgxhook), FLEETDEMO_HOOK=0 to show what
// happens without; FLEETDEMO_DRAIN (default 0s): how long /healthz answers
// 503 after SIGTERM before the server stops accepting, for a load balancer
// that only learns of the drain from its probes.
//
// Endpoints: GET /healthz (200 serving, 503 draining), GET /people (the
// latest five), POST /people?name=... (201).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetgate/fleetgate/pgxhook"
)

type app struct {
	version  string
	hook     bool
	pool     *pgxpool.Pool
	draining atomic.Bool
}

func main() {
	if err := run(); err != nil {
		log.Fatalf("fleetdemo: %v", err)
	}
}

func run() error {
	a := &app{version: os.Getenv("FLEETDEMO_VERSION"), hook: os.Getenv("FLEETDEMO_HOOK") != "0"}
	switch a.version {
	case "v1", "v2", "v3":
	default:
		return fmt.Errorf("FLEETDEMO_VERSION=%q: want v1, v2 or v3", a.version)
	}
	addr := os.Getenv("FLEETDEMO_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	drain := time.Duration(0)
	if s := os.Getenv("FLEETDEMO_DRAIN"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("FLEETDEMO_DRAIN: %w", err)
		}
		drain = d
	}
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	// pgx's default query mode caches a prepared statement per query and
	// connection: the mode whose statements an expand migration makes
	// stale.
	if cfg.MaxConns > 4 {
		cfg.MaxConns = 4
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer a.pool.Close()
	// Warm the pool before listening: a load balancer routes a full share
	// to an instance from its first ready probe, and a cold pool would make
	// those first requests each open a connection (TCP, authentication, a
	// new server process) and prepare their statement first.
	if err := a.warm(ctx, int(cfg.MaxConns)); err != nil {
		return fmt.Errorf("warm the pool: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /people", a.list)
	mux.HandleFunc("POST /people", a.add)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if f := os.Getenv("FLEETDEMO_ADDR_FILE"); f != "" {
		// Written whole or not at all: a reader never sees half an address.
		if err := os.WriteFile(f+".tmp", []byte(ln.Addr().String()), 0o644); err != nil {
			return err
		}
		if err := os.Rename(f+".tmp", f); err != nil {
			return err
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Printf("fleetdemo %s (hook %v) serving on %s", a.version, a.hook, ln.Addr())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Draining: readiness fails first, so that the load balancer stops
	// sending; Shutdown then closes the listener and waits for the
	// requests in flight.
	a.draining.Store(true)
	time.Sleep(drain)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Printf("fleetdemo %s drained", a.version)
	return nil
}

// warm opens n connections at once and prepares the read on each (the
// statement cache is per connection); the write, which must not run here,
// is prepared by its first request.
func (a *app) warm(ctx context.Context, n int) error {
	conns := make([]*pgxpool.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		// Each holds its connection until all are open, so that each is a
		// connection of its own; they open side by side.
		wg.Go(func() { conns[i], errs[i] = a.pool.Acquire(ctx) })
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Release()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, c := range conns {
		wg.Go(func() {
			// A migration that commits between the prepare and the first
			// execution (a rollback's DROP COLUMN while this instance
			// starts) fails that execution with a stale plan, and pgx
			// drops the statement: prepared again, it reads the new
			// schema. Every build retries here, hooked or not: the warm-up
			// serves no request.
			for attempt := 0; ; attempt++ {
				rows, err := c.Query(ctx, listQuery)
				if err == nil {
					rows.Close()
					err = rows.Err()
				}
				errs[i] = err
				if attempt > 0 || !pgxhook.IsStalePlan(err) {
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// person is the API's view, the same in every build.
type person struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// list reads with SELECT *, as much code does: the statement pgx caches
// then has the table's columns of the moment it was prepared.
const listQuery = `SELECT * FROM people ORDER BY id DESC LIMIT 5`

func (a *app) list(w http.ResponseWriter, r *http.Request) {
	q := listQuery
	var rows []map[string]any
	var err error
	if a.hook {
		rows, err = pgxhook.Query(r.Context(), a.pool, pgx.RowToMap, q)
	} else {
		var rs pgx.Rows
		rs, err = a.pool.Query(r.Context(), q)
		if err == nil {
			rows, err = pgx.CollectRows(rs, pgx.RowToMap)
		}
	}
	if err != nil {
		a.fail(w, "read", err)
		return
	}
	out := make([]person, 0, len(rows))
	for _, row := range rows {
		p, err := a.decode(row)
		if err != nil {
			a.fail(w, "read", err)
			return
		}
		out = append(out, p)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// decode takes the name from the column this build reads.
func (a *app) decode(row map[string]any) (person, error) {
	id, _ := row["id"].(int64)
	p := person{ID: id}
	col := "name"
	if a.version != "v1" {
		col = "full_name"
	}
	v, ok := row[col]
	if !ok {
		return p, fmt.Errorf("people has no column %s", col)
	}
	if v == nil && a.version == "v2" {
		// Written by a v1 instance after the expand migration.
		v = row["name"]
	}
	p.Name, _ = v.(string)
	return p, nil
}

func (a *app) add(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	var q string
	var args []any
	switch a.version {
	case "v1":
		q, args = `INSERT INTO people (name) VALUES ($1)`, []any{name}
	case "v2":
		q, args = `INSERT INTO people (name, full_name) VALUES ($1, $1)`, []any{name}
	default:
		q, args = `INSERT INTO people (full_name) VALUES ($1)`, []any{name}
	}
	var err error
	if a.hook {
		_, err = pgxhook.Exec(r.Context(), a.pool, q, args...)
	} else {
		_, err = a.pool.Exec(r.Context(), q, args...)
	}
	if err != nil {
		a.fail(w, "write", err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (a *app) fail(w http.ResponseWriter, what string, err error) {
	log.Printf("fleetdemo %s: %s: %v", a.version, what, err)
	http.Error(w, what+": "+err.Error(), http.StatusInternalServerError)
}
