package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// The deploy-under-load tests roll examples/fleetdemo, under `fleetgate
// run`, through expand (v2), contract (v3) and a rollback while a
// constant-rate load goes through a front that routes only to ready
// instances. See docs/deploy.md.

// loadRate is the constant request rate: what this 2-core machine, shared
// with the rest of the suite, sustains beside 36 instances with headroom.
const loadRate = 60

var (
	demoOnce sync.Once
	demoBin  string
	demoErr  error
)

// fleetdemo builds the sample service once per test binary.
func fleetdemo(t *testing.T) string {
	t.Helper()
	demoOnce.Do(func() {
		demoBin = filepath.Join(filepath.Dir(bin), "fleetdemo")
		out, err := exec.Command("go", "build", "-o", demoBin, "../examples/fleetdemo").CombinedOutput()
		if err != nil {
			demoErr = fmt.Errorf("build fleetdemo: %v\n%s", err, out)
		}
	})
	require.NoError(t, demoErr)
	return demoBin
}

func demoDir(v string) string { return filepath.Join("..", "examples", "fleetdemo", "migrations", v) }

// backend is one instance as the front sees it.
type backend struct {
	addr, group string
	p           *proc
	ready       atomic.Bool  // its readiness probe answers 200
	readyAt     atomic.Int64 // when the probe first saw it ready (UnixNano)
	out         bool         // taken out of rotation (guarded by front.mu)
	inflight    atomic.Int64
	exited      time.Time
}

// front is the load balancer: round robin over the instances that are in
// rotation and whose readiness answers 200. A request whose connection
// failed before anything was sent, or an idempotent one whose connection
// failed at all, is tried again on another instance; any answer an
// instance gave, 5xx included, goes back to the client as it is.
type front struct {
	mu       sync.Mutex
	backends []*backend
	next     int
	client   *http.Client
	probe    *http.Client
	cancel   context.CancelFunc
	done     chan struct{}
}

func newFront() *front {
	tr := &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	f := &front{client: &http.Client{Transport: tr, Timeout: 15 * time.Second},
		probe:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 2 * time.Second},
		cancel: cancel, done: make(chan struct{})}
	go f.probeLoop(ctx)
	return f
}

func (f *front) close() {
	f.cancel()
	<-f.done
	f.client.CloseIdleConnections()
	f.probe.CloseIdleConnections()
}

func (f *front) add(b *backend) {
	f.mu.Lock()
	f.backends = append(f.backends, b)
	f.mu.Unlock()
}

// takeOut removes b from rotation and waits until the requests it was
// given have been answered.
func (f *front) takeOut(t *testing.T, b *backend) {
	f.mu.Lock()
	b.out = true
	f.mu.Unlock()
	waitFor(t, 30*time.Second, func() bool { return b.inflight.Load() == 0 })
}

func (f *front) forget(b *backend) {
	f.mu.Lock()
	f.backends = slices.DeleteFunc(f.backends, func(x *backend) bool { return x == b })
	f.mu.Unlock()
}

func (f *front) pick(tried []*backend) *backend {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range f.backends {
		f.next = (f.next + 1) % len(f.backends)
		b := f.backends[f.next]
		if b.ready.Load() && !b.out && !slices.Contains(tried, b) {
			b.inflight.Add(1)
			return b
		}
	}
	return nil
}

func (f *front) probeLoop(ctx context.Context) {
	defer close(f.done)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		f.mu.Lock()
		bs := slices.Clone(f.backends)
		f.mu.Unlock()
		var wg sync.WaitGroup
		for _, b := range bs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+b.addr+"/healthz", nil)
				resp, err := f.probe.Do(req)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				b.ready.Store(ok)
				if ok {
					b.readyAt.CompareAndSwap(0, time.Now().UnixNano())
				}
			}()
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var tried []*backend
	for range 3 {
		b := f.pick(tried)
		if b == nil {
			break
		}
		tried = append(tried, b)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+b.addr+r.URL.RequestURI(), bytes.NewReader(body))
		resp, err := f.client.Do(req)
		if err != nil {
			b.inflight.Add(-1)
			var op *net.OpError
			if (errors.As(err, &op) && op.Op == "dial") || r.Method == http.MethodGet {
				continue
			}
			w.Header().Set("X-Group", b.group)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.Header().Set("X-Group", b.group)
		if time.Since(time.Unix(0, b.readyAt.Load())) < freshFor {
			w.Header().Set("X-Fresh", "1")
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		b.inflight.Add(-1)
		return
	}
	w.Header().Set("X-Group", "front")
	http.Error(w, "no ready instance", http.StatusServiceUnavailable)
}

// deploy is one fleet of fleetdemo instances behind a front, under load.
type deploy struct {
	t     *testing.T
	url   string
	db    *sql.DB
	front *front
	srv   *httptest.Server

	mu      sync.Mutex
	results []vegeta.Result
	atk     *vegeta.Attacker
	loaded  chan struct{}
	// phases are the spans of the roll (instances starting, draining),
	// to tell where the deploy's slow requests come from.
	phases []phase
}

// phase is a span of the roll: "start" from the launch of a wave's
// instances until all are ready, "drain" from taking a wave out of
// rotation until its processes exited.
type phase struct {
	kind     string
	from, to time.Time
}

// freshFor is how long after an instance became ready its requests count
// as served by a fresh instance (cold connections and statement caches).
const freshFor = 5 * time.Second

func newDeploy(t *testing.T) *deploy {
	url := dbtest.Postgres(t)
	d := &deploy{t: t, url: url, db: openDB(t, url), front: newFront()}
	d.srv = httptest.NewServer(d.front)
	t.Cleanup(func() { d.srv.Close(); d.front.close() })
	return d
}

// launch starts n instances of build v (group names them in the report)
// under `fleetgate run` with the migrations of dir, and waits until the
// front sees them ready. Each listens on a port of its own choosing and
// writes it to a file, so no two processes race for a port.
func (d *deploy) launch(n int, v, dir, group string, hook bool) []*backend {
	d.t.Helper()
	demo := fleetdemo(d.t)
	hookEnv := "FLEETDEMO_HOOK=1"
	if !hook {
		hookEnv = "FLEETDEMO_HOOK=0"
	}
	tmp := d.t.TempDir()
	launched := time.Now()
	defer func() {
		d.mu.Lock()
		d.phases = append(d.phases, phase{"start", launched, time.Now()})
		d.mu.Unlock()
	}()
	var bs []*backend
	files := map[*backend]string{}
	for i := range n {
		file := filepath.Join(tmp, fmt.Sprintf("addr-%d", i))
		env := append(slices.Clone(ttl), "DATABASE_URL="+d.url, "FLEETDEMO_ADDR=127.0.0.1:0",
			"FLEETDEMO_ADDR_FILE="+file, "FLEETDEMO_VERSION="+v, hookEnv)
		b := &backend{group: group}
		b.p = start(d.t, env, "run", "-d", d.url, "--dir", dir, "--", demo)
		files[b] = file
		bs = append(bs, b)
	}
	exitedEarly := func(b *backend) {
		select {
		case <-b.p.done:
			d.t.Fatalf("instance of %s exited before it was ready: %s", group, b.p.res)
		default:
		}
	}
	waitFor(d.t, 90*time.Second, func() bool {
		for _, b := range bs {
			if b.addr != "" {
				continue
			}
			exitedEarly(b)
			addr, err := os.ReadFile(files[b])
			if err != nil {
				return false
			}
			b.addr = string(addr)
			d.front.add(b)
		}
		return true
	})
	waitFor(d.t, 90*time.Second, func() bool {
		for _, b := range bs {
			exitedEarly(b)
			if !b.ready.Load() {
				return false
			}
		}
		return true
	})
	return bs
}

// drain takes bs out of rotation, waits for their requests, and stops them
// with SIGTERM; wait waits for them to exit (drained, exit 0).
func (d *deploy) drain(bs []*backend) {
	d.t.Helper()
	for _, b := range bs {
		d.front.takeOut(d.t, b)
	}
	for _, b := range bs {
		b.p.signal(syscall.SIGTERM)
	}
}

func (d *deploy) wait(bs []*backend) {
	d.t.Helper()
	for _, b := range bs {
		r := b.p.wait(d.t, 60*time.Second)
		b.exited = time.Now()
		require.Equal(d.t, 0, r.Code, "instance %s (%s) did not drain cleanly: %s", b.addr, b.group, r)
		d.front.forget(b)
	}
}

// roll replaces old by n instances of build v in waves: each wave drains
// its share of old, then starts its replacements and waits until they
// are ready. before, when set, runs before each wave's drain; draining
// after its SIGTERMs, while the instances may still run.
func (d *deploy) roll(old []*backend, waves int, v, dir, group string, before, draining func(wave int)) []*backend {
	d.t.Helper()
	var out []*backend
	per := (len(old) + waves - 1) / waves
	for w := 0; w < waves; w++ {
		part := old[w*per : min((w+1)*per, len(old))]
		if before != nil {
			before(w)
		}
		drained := time.Now()
		d.drain(part)
		if draining != nil {
			draining(w)
		}
		d.wait(part)
		d.mu.Lock()
		d.phases = append(d.phases, phase{"drain", drained, time.Now()})
		d.mu.Unlock()
		out = append(out, d.launch(len(part), v, dir, group, true)...)
	}
	return out
}

// load starts the constant-rate load: three reads to one write.
func (d *deploy) load() {
	base := d.srv.URL + "/people"
	targeter := vegeta.NewStaticTargeter(
		vegeta.Target{Method: "GET", URL: base},
		vegeta.Target{Method: "POST", URL: base + "?name=ada"},
		vegeta.Target{Method: "GET", URL: base},
		vegeta.Target{Method: "GET", URL: base},
	)
	d.atk = vegeta.NewAttacker(vegeta.Timeout(30*time.Second), vegeta.KeepAlive(true), vegeta.Workers(8))
	d.loaded = make(chan struct{})
	go func() {
		defer close(d.loaded)
		for res := range d.atk.Attack(targeter, vegeta.Rate{Freq: loadRate, Per: time.Second}, 0, "deploy") {
			d.mu.Lock()
			d.results = append(d.results, *res)
			d.mu.Unlock()
		}
	}()
	d.t.Cleanup(d.stopLoad)
}

func (d *deploy) stopLoad() {
	if d.atk != nil {
		d.atk.Stop()
		<-d.loaded
	}
}

// answered is how many requests have been answered so far.
func (d *deploy) answered() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.results)
}

func failed(r *vegeta.Result) bool { return r.Error != "" || r.Code < 200 || r.Code > 299 }

func group(r *vegeta.Result) string {
	if g := r.Headers.Get("X-Group"); g != "" {
		return g
	}
	return "front"
}

// window is the results that started within [from, to).
func (d *deploy) window(from, to time.Time) []vegeta.Result {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []vegeta.Result
	for _, r := range d.results {
		if !r.Timestamp.Before(from) && r.Timestamp.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

// latency is the p50 and p99 of the successful requests of rs.
func latency(rs []vegeta.Result) (p50, p99 time.Duration) {
	var ls []time.Duration
	for i := range rs {
		if !failed(&rs[i]) {
			ls = append(ls, rs[i].Latency)
		}
	}
	if len(ls) == 0 {
		return 0, 0
	}
	slices.Sort(ls)
	return ls[len(ls)*50/100], ls[min(len(ls)*99/100, len(ls)-1)]
}

// causes splits the successful requests of rs by what the roll was doing
// when each was sent: served by an instance ready for less than freshFor,
// sent while a wave's instances were starting or while one was draining,
// or none of these; and reports each part's size and p99.
func (d *deploy) causes(rs []vegeta.Result) string {
	d.mu.Lock()
	phases := slices.Clone(d.phases)
	d.mu.Unlock()
	in := func(kind string, at time.Time) bool {
		return slices.ContainsFunc(phases, func(p phase) bool { return p.kind == kind && !at.Before(p.from) && at.Before(p.to) })
	}
	parts := map[string][]vegeta.Result{}
	for _, r := range rs {
		switch {
		case r.Headers.Get("X-Fresh") != "":
			parts["fresh instance"] = append(parts["fresh instance"], r)
		case in("start", r.Timestamp):
			parts["instances starting"] = append(parts["instances starting"], r)
		case in("drain", r.Timestamp):
			parts["instances draining"] = append(parts["instances draining"], r)
		default:
			parts["otherwise"] = append(parts["otherwise"], r)
		}
	}
	var out []string
	for _, k := range []string{"fresh instance", "instances starting", "instances draining", "otherwise"} {
		_, p99 := latency(parts[k])
		out = append(out, fmt.Sprintf("%s %d p99 %v", k, len(parts[k]), p99.Round(time.Millisecond)))
	}
	return strings.Join(out, ", ")
}

// failures counts the requests and failures of rs per group.
func failures(rs []vegeta.Result) (reqs, fails map[string]int, first map[string]string) {
	reqs, fails, first = map[string]int{}, map[string]int{}, map[string]string{}
	for i := range rs {
		g := group(&rs[i])
		reqs[g]++
		if failed(&rs[i]) {
			fails[g]++
			if first[g] == "" {
				first[g] = fmt.Sprintf("%d %s %s", rs[i].Code, rs[i].Error, bytes.TrimSpace(rs[i].Body))
			}
		}
	}
	return reqs, fails, first
}

// waitRequests waits until n more requests have been answered.
func (d *deploy) waitRequests(n int) {
	d.t.Helper()
	at := d.answered()
	waitFor(d.t, 60*time.Second, func() bool { return d.answered() >= at+n })
}

func appliedOnce(t *testing.T, db *sql.DB, versions ...int) {
	t.Helper()
	for _, v := range versions {
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply' AND version = $1", v),
			"migration %d applied once", v)
	}
}

func appliedAt(t *testing.T, db *sql.DB, v int) time.Time {
	t.Helper()
	var at time.Time
	require.NoError(t, db.QueryRow("SELECT applied_at FROM fleetgate_migrations WHERE version = $1 AND complete", v).Scan(&at))
	return at
}

func lastExit(bs []*backend) time.Time {
	var last time.Time
	for _, b := range bs {
		if b.exited.After(last) {
			last = b.exited
		}
	}
	return last
}

// TestDeployUnderLoad rolls 27 instances of fleetdemo from v1 to v2
// (expand) in three waves and on to v3 (contract) under a constant load:
// no request fails, except in the group of v1 instances that run without
// the stale-statement hook (they fail while the expand migration makes
// their cached SELECT * stale, which shows what the hook is for); every
// migration is applied once; the contract, started while the last v1
// wave still drains, waits until no instance lacks it.
func TestDeployUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("deploy under load: 27 instances for about a minute")
	}
	heavy.Lock()
	defer heavy.Unlock()
	began := time.Now()
	d := newDeploy(t)
	r := fg(t, ttl, "up", "-d", d.url, "--dir", demoDir("v1"))
	require.Equal(t, 0, r.Code, r.String())
	// Half the v1 instances use the hook. Each wave drains as many of
	// either group, so that both meet the expand migration alike.
	hooked := d.launch(14, "v1", demoDir("v1"), "v1-hooked", true)
	unhooked := d.launch(13, "v1", demoDir("v1"), "v1-unhooked", false)
	var v1 []*backend
	for i := range hooked {
		v1 = append(v1, hooked[i])
		if i < len(unhooked) {
			v1 = append(v1, unhooked[i])
		}
	}
	d.load()

	d.waitRequests(5 * loadRate) // warm: every instance has prepared its statements
	steadyFrom := time.Now()
	d.waitRequests(10 * loadRate)
	steadyTo := time.Now()

	// Roll v2; the contract's `up --phase post` starts while the last v1
	// wave drains, and must wait until no live instance lacks it: the
	// last v1 and, after them, the v2 instances.
	var post *proc
	v2 := d.roll(v1, 3, "v2", demoDir("v2"), "v2", nil, func(w int) {
		if w == 2 {
			post = start(t, ttl, "up", "-d", d.url, "--dir", demoDir("v3"), "--phase", "post")
		}
	})
	lastV1 := lastExit(v1)
	require.False(t, versionApplied(t, d.db, 3), "the contract ran while v2 instances, which write name, were live")
	d.roll(v2, 3, "v3", demoDir("v3"), "v3", func(w int) {
		if w == 2 {
			require.False(t, versionApplied(t, d.db, 3), "the contract ran while v2 instances were live")
			select {
			case <-post.done:
				t.Fatalf("up --phase post ended while v2 instances were live: %s", post.res)
			default:
			}
		}
	}, nil)
	r = post.wait(t, 60*time.Second)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "waiting for the fleet", "the contract waited for the fleet")
	lastV2 := lastExit(v2)
	d.waitRequests(2 * loadRate) // after the contract, on v3 alone
	deployTo := time.Now()
	d.stopLoad()

	appliedOnce(t, d.db, 1, 2, 3)
	contractAt := appliedAt(t, d.db, 3)
	// The instance deregisters just before its process exits.
	require.True(t, contractAt.After(lastV1), "contract at %v, last v1 instance left at %v", contractAt, lastV1)
	require.True(t, contractAt.After(lastV2.Add(-time.Second)), "contract at %v, last v2 instance left at %v", contractAt, lastV2)

	all := d.window(began, deployTo.Add(time.Hour))
	reqs, fails, first := failures(all)
	total, totalFails := 0, 0
	for g, n := range reqs {
		total += n
		totalFails += fails[g]
		t.Logf("group %-12s requests %5d failures %3d %s", g, n, fails[g], first[g])
	}
	for g, n := range fails {
		if g != "v1-unhooked" {
			require.Zero(t, n, "failed requests in group %s: first: %s", g, first[g])
		}
	}
	// Both v1 groups served after the expand migration: the hooked
	// group's zero is not for want of meeting it.
	expandAt := appliedAt(t, d.db, 2)
	after := map[string]int{}
	for _, r := range d.window(expandAt, deployTo) {
		after[group(&r)]++
	}
	require.Positive(t, after["v1-hooked"], "hooked v1 instances served after the expand")
	require.Positive(t, after["v1-unhooked"], "unhooked v1 instances served after the expand")
	s50, s99 := latency(d.window(steadyFrom, steadyTo))
	d50, d99 := latency(d.window(steadyTo, deployTo))
	t.Logf("deploy-under-load: %d requests at %d/s, %d failed (%d outside the unhooked v1 group; hooked v1 %d of %d, unhooked v1 %d of %d served after the expand), p50/p99 steady %v/%v, deploy %v/%v, contract %v after the last v1 instance left (%v after the last v2), run %v",
		total, loadRate, totalFails, totalFails-fails["v1-unhooked"], fails["v1-hooked"], after["v1-hooked"], fails["v1-unhooked"], after["v1-unhooked"],
		s50.Round(100*time.Microsecond), s99.Round(100*time.Microsecond), d50.Round(100*time.Microsecond), d99.Round(100*time.Microsecond),
		contractAt.Sub(lastV1).Round(time.Millisecond), contractAt.Sub(lastV2).Round(time.Millisecond), time.Since(began).Round(time.Second))
	t.Logf("deploy requests by what the roll was doing: %s", d.causes(d.window(steadyTo, deployTo)))
}

// TestDeployIgnoreFleetBreaks is the twin of TestDeployUnderLoad without
// the gate: the contract goes ahead with --ignore-fleet while v2
// instances, which still write name, serve; their requests fail. It shows
// what the gate prevents, and that the load test can see it.
func TestDeployIgnoreFleetBreaks(t *testing.T) {
	if testing.Short() {
		t.Skip("deploy under load")
	}
	heavy.Lock()
	defer heavy.Unlock()
	d := newDeploy(t)
	r := fg(t, ttl, "up", "-d", d.url, "--dir", demoDir("v1"))
	require.Equal(t, 0, r.Code, r.String())
	v1 := d.launch(6, "v1", demoDir("v1"), "v1", true)
	d.load()
	d.waitRequests(2 * loadRate)
	d.roll(v1, 2, "v2", demoDir("v2"), "v2", nil, func(w int) {
		if w == 1 {
			r := fg(t, ttl, "up", "-d", d.url, "--dir", demoDir("v3"), "--phase", "post", "--ignore-fleet", "drill: contract too early")
			require.Equal(t, 0, r.Code, r.String())
		}
	})
	require.True(t, versionApplied(t, d.db, 3))
	require.Equal(t, 1, queryInt(t, d.db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'fleet_override'"))
	waitFor(t, 60*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for i := range d.results {
			if failed(&d.results[i]) && group(&d.results[i]) == "v2" {
				return true
			}
		}
		return false
	})
	d.stopLoad()
	reqs, fails, first := failures(d.window(time.Time{}, time.Now().Add(time.Hour)))
	for g, n := range reqs {
		t.Logf("ignore-fleet: group %-4s requests %5d failures %3d %s", g, n, fails[g], first[g])
	}
	require.Positive(t, fails["v2"], "the early contract broke the v2 instances' writes")
	require.Contains(t, first["v2"], "name", "they fail on the dropped column")
}

// TestDeployRollbackDrill rolls v2 back to v1 under load: the older
// build's `down --unknown`, started as the first v2 wave drains, waits
// until the last v2 instance (which reads full_name) is gone, then drops
// the column; no request fails.
func TestDeployRollbackDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("deploy under load")
	}
	heavy.Lock()
	defer heavy.Unlock()
	d := newDeploy(t)
	r := fg(t, ttl, "up", "-d", d.url, "--dir", demoDir("v1"))
	require.Equal(t, 0, r.Code, r.String())
	v1 := d.launch(6, "v1", demoDir("v1"), "v1", true)
	d.load()
	d.waitRequests(2 * loadRate)
	v2 := d.roll(v1, 2, "v2", demoDir("v2"), "v2", nil, nil)
	d.waitRequests(loadRate)
	var down *proc
	d.roll(v2, 2, "v1", demoDir("v1"), "v1-back", func(w int) {
		if w == 1 {
			require.True(t, versionApplied(t, d.db, 2), "the rollback ran while v2 instances were live")
		}
	}, func(w int) {
		if w == 0 {
			down = start(t, ttl, "down", "-d", d.url, "--dir", demoDir("v1"), "--unknown")
		}
	})
	r = down.wait(t, 60*time.Second)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "waiting for the fleet")
	lastV2 := lastExit(v2)
	require.False(t, versionApplied(t, d.db, 2))
	var at time.Time
	require.NoError(t, d.db.QueryRow("SELECT at FROM fleetgate_events WHERE kind = 'rollback' AND version = 2").Scan(&at))
	require.True(t, at.After(lastV2.Add(-time.Second)), "rolled back at %v, the last v2 instance left at %v", at, lastV2)
	d.waitRequests(loadRate) // after the rollback, on v1 alone
	d.stopLoad()
	reqs, fails, first := failures(d.window(time.Time{}, time.Now().Add(time.Hour)))
	for g, n := range reqs {
		t.Logf("rollback drill: group %-7s requests %5d failures %3d %s", g, n, fails[g], first[g])
		require.Zero(t, fails[g], "failed requests in group %s: first: %s", g, first[g])
	}
	appliedOnce(t, d.db, 1, 2)
}
