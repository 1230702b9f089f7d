package fleetgate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/fleet"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/plan"
)

// KindFleetOverride is the event recorded when a post-phase migration or a
// rollback went ahead with IgnoreFleet while live instances held it back;
// its error field carries the reason given and the instances.
const KindFleetOverride = "fleet_override"

// Instance is a running instance of the application as the registry
// records it.
type Instance = fleet.Instance

// Registration is this process's entry in the instance registry, kept
// fresh by a heartbeat until Close.
type Registration struct {
	// ID identifies the entry (host, pid and a random suffix).
	ID string
	// Registered is false when the database role may not write the
	// registry table: the instance runs, but post-phase migrations and
	// gated rollbacks cannot see it.
	Registered bool

	m      *Migrator
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu    sync.Mutex
	hooks []func(applied []int64)
	seen  []int64 // the applied versions at the hooks' last look
}

// Register records this process in the instance registry with the set of
// migrations its build ships, and keeps the entry fresh (one UPDATE every
// InstanceTTL/3) until Close or until ctx ends. A post-phase migration is
// applied only once every live instance ships it, and a rollback of
// migrations waits until no live instance ships them, so an application
// that embeds fleetgate calls Register once it serves, and Close when it
// stops serving.
//
// A role that may not write the registry gets a Registration with
// Registered false and no error; any other failure is an error.
func (m *Migrator) Register(ctx context.Context) (*Registration, error) {
	reg, ok := m.d.(driver.Registry)
	if !ok {
		return &Registration{done: closedChan()}, nil
	}
	in, err := m.instance()
	if err != nil {
		return nil, err
	}
	r := &Registration{ID: in.ID, m: m, done: make(chan struct{})}
	if err := reg.RegisterInstance(ctx, m.db, in); err != nil {
		if !errors.Is(err, driver.ErrNoRegistry) {
			return nil, fmt.Errorf("register this instance: %w", err)
		}
		m.log.WarnContext(ctx, "unregistered: this role may not write the instance registry, so post-phase migrations cannot wait for this instance; grant it INSERT, UPDATE, DELETE on the registry table",
			slog.String("error", err.Error()))
		close(r.done)
		return r, nil
	}
	r.Registered = true
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	stop := context.AfterFunc(ctx, func() { _ = r.Close() })
	go func() {
		defer close(r.done)
		defer stop()
		r.heartbeat(hctx, reg, in)
	}()
	m.log.DebugContext(ctx, "registered", slog.String("instance", in.ID), slog.String("build", in.Build))
	return r, nil
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func (r *Registration) heartbeat(ctx context.Context, reg driver.Registry, in *fleet.Instance) {
	t := time.NewTicker(r.m.cfg.InstanceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		found, err := reg.TouchInstance(ctx, r.m.db, in.ID)
		if err == nil && !found {
			// Reaped while this process was paused or cut off: it is
			// back, so it counts again.
			err = reg.RegisterInstance(ctx, r.m.db, in)
		}
		if err != nil && ctx.Err() == nil {
			r.m.log.WarnContext(ctx, "instance heartbeat failed; retrying", slog.String("error", err.Error()))
		}
		r.lookForSchemaChange(ctx)
	}
}

// OnSchemaChange calls fn, from the heartbeat, when the set of applied
// migrations has changed since the previous heartbeat (or since this
// call): a migration was applied or rolled back while this instance runs.
// fn gets the versions applied now, ascending. It lets an application drop
// what depends on the old schema, such as the prepared statements its
// driver caches (package pgxhook's ResetOnChange recycles a pgxpool),
// within one heartbeat (InstanceTTL/3) of the commit. It costs one more
// read of the history per heartbeat, and only once a hook is set.
//
// The hook is late by up to a heartbeat: statements that meet the old
// cache in between still fail, so an application that must not fail a
// request retries them too (pgxhook.Query and pgxhook.Exec do). An
// unregistered Registration has no heartbeat and never calls fn.
func (r *Registration) OnSchemaChange(ctx context.Context, fn func(applied []int64)) error {
	if r.cancel == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		vs, err := r.m.appliedVersions(ctx)
		if err != nil {
			return err
		}
		r.seen = vs
	}
	r.hooks = append(r.hooks, fn)
	return nil
}

func (r *Registration) lookForSchemaChange(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.hooks) == 0 {
		return
	}
	vs, err := r.m.appliedVersions(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.m.log.WarnContext(ctx, "could not read the history for the schema-change hooks; retrying", slog.String("error", err.Error()))
		}
		return
	}
	if slices.Equal(vs, r.seen) {
		return
	}
	r.seen = vs
	for _, fn := range r.hooks {
		fn(slices.Clone(vs))
	}
}

// appliedVersions are the completely applied migrations, ascending.
func (m *Migrator) appliedVersions(ctx context.Context) ([]int64, error) {
	rows, err := m.d.ReadApplied(ctx, m.db, driver.PlanColumns)
	if err != nil {
		return nil, fmt.Errorf("read the history: %w", err)
	}
	vs := make([]int64, 0, len(rows))
	for _, a := range rows {
		if a.Complete {
			vs = append(vs, a.Version)
		}
	}
	return vs, nil
}

// Close stops the heartbeat and removes the entry, so that a post-phase
// migration waiting for this instance to go goes ahead at once.
func (r *Registration) Close() error {
	var err error
	r.once.Do(func() {
		if r.cancel == nil {
			return
		}
		r.cancel()
		<-r.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = r.m.d.(driver.Registry).RemoveInstance(ctx, r.m.db, r.ID)
	})
	return err
}

// instance describes this process and its build.
func (m *Migrator) instance() (*fleet.Instance, error) {
	local, err := m.migrations()
	if err != nil {
		return nil, err
	}
	vs := make([]int64, 0, len(local))
	for _, mg := range local {
		vs = append(vs, mg.Version)
	}
	slices.Sort(vs)
	var maxV int64
	if len(vs) > 0 {
		maxV = vs[len(vs)-1]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := fmt.Sprintf("%s-%d-%s", m.actor.Host, m.actor.PID, hex.EncodeToString(b[:]))
	return &fleet.Instance{ID: id, Host: m.actor.Host, PID: m.actor.PID, DeployID: m.actor.DeployID,
		Build: fleet.Fingerprint(vs), Versions: vs, MaxVersion: maxV}, nil
}

// FleetStatus is the registry as Fleet reads it.
type FleetStatus struct {
	// Supported is false for a database without a registry (no driver
	// support); the rest is then empty.
	Supported bool `json:"supported"`
	// Builds are the live instances grouped by build, newest build first.
	Builds []FleetBuild `json:"builds"`
	// Stale are entries whose heartbeat stopped more than InstanceTTL ago
	// (killed without deregistering); they hold nothing back.
	Stale []Instance `json:"stale"`
	// TTL is the liveness window used.
	TTL time.Duration `json:"ttl_ns"`
	// Now is the database clock the liveness was judged by.
	Now time.Time `json:"now"`
}

// FleetBuild is the live instances of one build.
type FleetBuild struct {
	Build      string     `json:"build"`
	MaxVersion int64      `json:"max_version"`
	Instances  []Instance `json:"instances"`
	// Blocks are the pending post-phase migrations of this directory that
	// this build lacks: `up --phase post` waits for these instances.
	Blocks []int64 `json:"blocks,omitempty"`
}

// Fleet reads the instance registry.
func (m *Migrator) Fleet(ctx context.Context) (*FleetStatus, error) {
	reg, ok := m.d.(driver.Registry)
	if !ok {
		return &FleetStatus{}, nil
	}
	all, now, err := reg.ReadInstances(ctx, m.db)
	if err != nil {
		return nil, err
	}
	live, stale := fleet.Live(all, now, m.cfg.InstanceTTL)
	fs := &FleetStatus{Supported: true, Stale: stale, TTL: m.cfg.InstanceTTL, Now: now}
	pendingPost := m.pendingPost(ctx)
	for _, g := range fleet.Groups(live) {
		fb := FleetBuild{Build: g.Build, MaxVersion: g.MaxVersion, Instances: g.Instances}
		for _, v := range pendingPost {
			if !g.Instances[0].Ships(v) {
				fb.Blocks = append(fb.Blocks, v)
			}
		}
		fs.Builds = append(fs.Builds, fb)
	}
	return fs, nil
}

// reap deletes the registry's long-dead entries (fleet.ReapTTLs ×
// InstanceTTL after their last heartbeat, by the database clock now that
// all were read with), when there are any: a statement only then. It runs
// where the registry is read anyway by a role that owns it (up, and the
// fleet gates); a failure only leaves the entries for the next time.
func (m *Migrator) reap(ctx context.Context, reg driver.Registry, all []Instance, now time.Time) {
	before, any := fleet.LongDead(all, now, m.cfg.InstanceTTL)
	if !any {
		return
	}
	if err := reg.ReapInstances(ctx, m.db, before); err != nil {
		m.log.InfoContext(ctx, "could not remove the long-dead entries of the instance registry", slog.String("error", err.Error()))
	}
}

// pendingPost lists the post-phase migrations of this build not yet in
// the history: all that Fleet needs of the history, read without the lock
// row, so that credentials that may read only the history and the registry
// see the fleet whole. Unreadable files or history leave it empty (the
// fleet is still worth showing).
func (m *Migrator) pendingPost(ctx context.Context) []int64 {
	local, err := m.migrations()
	if err != nil {
		return nil
	}
	rows, err := m.readApplied(ctx, m.db, driver.PlanColumns)
	if err != nil {
		return nil
	}
	applied := make(map[int64]bool, len(rows))
	for _, r := range rows {
		applied[r.Version] = true
	}
	var out []int64
	for _, mg := range local {
		if mg.Phase == PhasePost && !applied[mg.Version] {
			out = append(out, mg.Version)
		}
	}
	return out
}

// FleetError is a post-phase migration or a rollback that timed out
// waiting for live instances that would break if it ran. It matches
// ErrTimeout (exit 3) and names the instances.
type FleetError struct {
	// Action is "apply post-phase migration(s) 7" or "roll back 7".
	Action    string
	Instances []Instance
	Now       time.Time
}

func (e *FleetError) Error() string {
	return fmt.Sprintf("timed out waiting for the fleet to %s: %d live instance(s) would break: %s; wait for them to stop, or set UpOpts.IgnoreFleet (the reason for going ahead)",
		e.Action, len(e.Instances), fleet.Describe(e.Instances, e.Now, 5))
}

func (e *FleetError) Is(target error) bool { return target == ErrTimeout }

// awaitFleet waits until blocking(live instances) is empty, or timeout
// (0: as long as ctx allows) ends it with a FleetError. ignore, when set,
// is the operator's reason to go ahead anyway: recorded as an event.
func (m *Migrator) awaitFleet(ctx context.Context, action string, versions []int64, blocking func([]Instance) []Instance, timeout time.Duration, ignore string) error {
	reg, ok := m.d.(driver.Registry)
	if !ok || len(versions) == 0 {
		return nil
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	var lastReport time.Time
	start := time.Now()
	reaped := false
	for {
		all, now, err := reg.ReadInstances(ctx, m.db)
		if err != nil {
			return fmt.Errorf("read the instance registry: %w", err)
		}
		if !reaped {
			m.reap(ctx, reg, all, now)
			reaped = true
		}
		live, _ := fleet.Live(all, now, m.cfg.InstanceTTL)
		held := blocking(live)
		if len(held) == 0 {
			if !lastReport.IsZero() {
				m.log.InfoContext(ctx, "the fleet is ready", slog.String("action", action),
					slog.Duration("waited", time.Since(start).Round(time.Millisecond)))
			}
			return nil
		}
		if ignore != "" {
			m.log.WarnContext(ctx, "going ahead although live instances would break (--ignore-fleet)",
				slog.String("action", action), slog.String("reason", ignore), slog.String("instances", fleet.Describe(held, now, 5)))
			ev := &history.Event{Kind: KindFleetOverride, Version: versions[0], Actor: m.actor,
				Error: fmt.Sprintf("%s: %s; live instances that would break: %s", action, ignore, fleet.Describe(held, now, 20))}
			if err := m.d.AppendEvent(ctx, m.db, ev); err != nil {
				return fmt.Errorf("record the fleet override: %w", err)
			}
			return nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return &FleetError{Action: action, Instances: held, Now: now}
		}
		if time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			m.log.InfoContext(ctx, "waiting for the fleet", slog.String("action", action),
				slog.Int("instances", len(held)), slog.String("held_by", fleet.Describe(held, now, 5)))
		}
		pause := m.cfg.InstanceTTL / 10
		if pause > time.Second {
			pause = time.Second
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// awaitContract holds back the post-phase steps of p until every live
// registered instance runs a build that ships them: a contract migration
// removes what older code still uses. It waits before the lock is taken,
// so that pre-phase deploys are not held up meanwhile.
func (m *Migrator) awaitContract(ctx context.Context, p *plan.Plan, opts *UpOpts) error {
	var post []int64
	for _, st := range p.Steps {
		if st.Migration.Phase == PhasePost {
			post = append(post, st.Migration.Version)
		}
	}
	return m.awaitFleet(ctx, "apply post-phase migration(s) "+history.VersionList(post), post,
		func(live []Instance) []Instance { return fleet.Lacking(live, post) }, opts.Timeout, opts.IgnoreFleet)
}

// awaitRollback holds back a rollback of versions (down --unknown: an
// older build reverting what it does not know) until no live registered
// instance runs a build that ships any of them: those are the newer
// instances still draining, and the schema would go from under them.
func (m *Migrator) awaitRollback(ctx context.Context, versions []int64, timeout time.Duration, ignore string) error {
	return m.awaitFleet(ctx, "roll back "+history.VersionList(versions), versions,
		func(live []Instance) []Instance { return fleet.Shipping(live, versions) }, timeout, ignore)
}
