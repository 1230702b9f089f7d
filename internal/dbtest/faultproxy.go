package dbtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// FaultProxy is a TCP proxy between clients and a database server that can
// break each proxied connection on its own: blackhole it, reset it, add
// latency or starve its bandwidth. The faults are Shopify/toxiproxy's
// toxics (timeout, latency, bandwidth, slicer) run by toxiproxy's own link
// machinery; what this type adds is the selection.
//
// toxiproxy applies a toxic to every connection of a proxy. A fleetgate
// runner opens several connections to one URL (its lock session, its
// migration connection, short-lived reads) and a fault suite must break
// one of them and not the others, so every accepted connection gets a
// ToxicCollection of its own. A test finds the connection it wants from
// the server's side: the port the proxy dials from is the client_port that
// PostgreSQL shows in pg_stat_activity (and inet_client_port()), so
// Conn(port) picks the connection of a given backend.
//
// The proxy listens on 127.0.0.1 only and is closed, with every connection
// through it, in t.Cleanup. Note that a client behind it is not "direct"
// in the sense of its own local port matching the server's client_port,
// as behind any proxy, pooler or NAT.
type FaultProxy struct {
	// Addr is where the proxy listens: 127.0.0.1 and a free port.
	Addr string

	upstream string
	ln       net.Listener
	server   *toxiproxy.ApiServer
	logger   zerolog.Logger

	mu     sync.Mutex
	conns  map[int]*FaultConn // by the upstream side's local port
	global []Fault            // applied to every current and future connection
	closed bool
	wg     sync.WaitGroup
}

// FaultConn is one client connection through a FaultProxy.
type FaultConn struct {
	// ClientPort is the local port of the proxy's connection to the
	// server: pg_stat_activity.client_port of the backend serving it.
	ClientPort int

	fp               *FaultProxy
	client, upstream *net.TCPConn
	px               *toxiproxy.Proxy // holds this connection's toxics
	mu               sync.Mutex
	names            []string // toxics present, for Heal
	blackholed       bool
	closed           bool
}

// Fault is one toxic: Type is a toxiproxy toxic type ("timeout",
// "latency", "bandwidth", "slicer", "reset_peer", "limit_data",
// "slow_close"), Stream "upstream" (client to server), "downstream" or
// "both", and Attributes the toxic's attributes as in toxiproxy's API.
type Fault struct {
	Type       string
	Stream     string
	Attributes map[string]any
}

// Blackhole stops forwarding in both directions and keeps both sockets
// open: toxiproxy's timeout toxic with timeout 0 reads and drops whatever
// arrives. Data sent meanwhile is lost, so Heal ends such a connection.
func Blackhole() Fault {
	return Fault{Type: "timeout", Stream: "both", Attributes: map[string]any{"timeout": 0}}
}

// Latency delays every chunk in both directions by latency ± jitter.
func Latency(latency, jitter time.Duration) Fault {
	return Fault{Type: "latency", Stream: "both", Attributes: map[string]any{
		"latency": latency.Milliseconds(), "jitter": jitter.Milliseconds()}}
}

// Bandwidth limits both directions to rate KB/s (toxiproxy's smallest rate
// is 1 KB/s).
func Bandwidth(kbPerSecond int) Fault {
	return Fault{Type: "bandwidth", Stream: "both", Attributes: map[string]any{"rate": kbPerSecond}}
}

// Trickle starves both directions below what the bandwidth toxic can
// express: toxiproxy's slicer cuts the stream into size-byte pieces sent
// every delay, so about size/delay bytes per second get through.
func Trickle(size int, delay time.Duration) Fault {
	return Fault{Type: "slicer", Stream: "both", Attributes: map[string]any{
		"average_size": size, "size_variation": 0, "delay": delay.Microseconds()}}
}

// ResetOnData resets the connection (RST to both ends) when the next data
// passes in the given direction: "downstream" resets it as the server's
// answer arrives, i.e. after the server has done the work and before the
// client learns that it has.
func ResetOnData(direction string) Fault {
	return Fault{Type: "reset_peer", Stream: direction, Attributes: map[string]any{"timeout": 0}}
}

// FaultProxyFor starts a FaultProxy in front of the server of dbURL (a
// postgres:// URL) and returns it with dbURL rewritten to go through it.
func FaultProxyFor(t testing.TB, dbURL string) (*FaultProxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err, "dbtest: FaultProxyFor: dbURL")
	require.NotEmpty(t, u.Host, "dbtest: FaultProxyFor: dbURL has no host")
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	fp, err := NewFaultProxy(host)
	require.NoError(t, err)
	t.Cleanup(fp.Close)
	u.Host = fp.Addr
	return fp, u.String()
}

// NewFaultProxy starts a proxy on 127.0.0.1 to upstream (host:port). The
// caller closes it.
func NewFaultProxy(upstream string) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dbtest: fault proxy: listen: %w", err)
	}
	logger := zerolog.Nop()
	fp := &FaultProxy{
		Addr:     ln.Addr().String(),
		upstream: upstream,
		ln:       ln,
		server:   toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), logger),
		logger:   logger,
		conns:    map[int]*FaultConn{},
	}
	fp.wg.Add(1)
	go fp.accept()
	return fp, nil
}

// URL returns dbURL with its host replaced by the proxy's address.
func (fp *FaultProxy) URL(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		panic(fmt.Sprintf("dbtest: FaultProxy.URL: %v", err))
	}
	u.Host = fp.Addr
	return u.String()
}

func (fp *FaultProxy) accept() {
	defer fp.wg.Done()
	for {
		c, err := fp.ln.Accept()
		if err != nil {
			return // closed
		}
		up, err := net.DialTimeout("tcp", fp.upstream, 10*time.Second)
		if err != nil {
			// As a middlebox whose upstream is down: the client sees
			// its connection closed, as PostgreSQL's clients see a
			// refused connection during a restart.
			_ = c.Close()
			continue
		}
		fp.link(c.(*net.TCPConn), up.(*net.TCPConn))
	}
}

func (fp *FaultProxy) link(client, upstream *net.TCPConn) {
	port := upstream.LocalAddr().(*net.TCPAddr).Port
	name := "conn-" + strconv.Itoa(port)
	px := toxiproxy.NewProxy(fp.server, name, fp.Addr, fp.upstream)
	px.Logger = &fp.logger
	fc := &FaultConn{ClientPort: port, fp: fp, client: client, upstream: upstream, px: px}

	fp.mu.Lock()
	if fp.closed {
		fp.mu.Unlock()
		_ = client.Close()
		_ = upstream.Close()
		return
	}
	fp.conns[port] = fc
	global := append([]Fault(nil), fp.global...)
	fp.mu.Unlock()

	// Faults that hold for the whole proxy are in the chain before the
	// first byte moves, so a new connection in a blackhole is in it too.
	for _, f := range global {
		_ = fc.add(f)
	}
	px.Toxics.StartLink(fp.server, name+"upstream", client, upstream, stream.Upstream)
	px.Toxics.StartLink(fp.server, name+"downstream", upstream, client, stream.Downstream)
}

// Conn returns the connection whose server-side client port is port, or
// nil when there is none (yet).
func (fp *FaultProxy) Conn(port int) *FaultConn {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.conns[port]
}

// Conns returns every connection made through the proxy so far, closed or
// not.
func (fp *FaultProxy) Conns() []*FaultConn {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	out := make([]*FaultConn, 0, len(fp.conns))
	for _, c := range fp.conns {
		out = append(out, c)
	}
	return out
}

// ApplyAll applies f to every open connection and to every connection
// made from now on, until HealAll: a fault of the whole network path.
func (fp *FaultProxy) ApplyAll(f Fault) error {
	fp.mu.Lock()
	fp.global = append(fp.global, f)
	conns := make([]*FaultConn, 0, len(fp.conns))
	for _, c := range fp.conns {
		conns = append(conns, c)
	}
	fp.mu.Unlock()
	var errs []error
	for _, c := range conns {
		if err := c.Apply(f); err != nil && !errors.Is(err, errConnClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// HealAll removes every fault from every connection, and the proxy-wide
// ones from the connections still to come. A connection that was
// blackholed is closed (its lost data cannot be made up).
func (fp *FaultProxy) HealAll() {
	fp.mu.Lock()
	fp.global = nil
	conns := make([]*FaultConn, 0, len(fp.conns))
	for _, c := range fp.conns {
		conns = append(conns, c)
	}
	fp.mu.Unlock()
	for _, c := range conns {
		c.Heal()
	}
}

// Close stops accepting and closes every connection through the proxy.
func (fp *FaultProxy) Close() {
	fp.mu.Lock()
	if fp.closed {
		fp.mu.Unlock()
		return
	}
	fp.closed = true
	conns := make([]*FaultConn, 0, len(fp.conns))
	for _, c := range fp.conns {
		conns = append(conns, c)
	}
	fp.mu.Unlock()
	_ = fp.ln.Close()
	fp.wg.Wait()
	for _, c := range conns {
		c.close()
	}
}

var errConnClosed = errors.New("dbtest: fault proxy: connection already closed")

// Apply adds f to this connection's toxics. It takes effect on the data in
// flight from now on.
func (c *FaultConn) Apply(f Fault) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return errConnClosed
	}
	return c.add(f)
}

func (c *FaultConn) add(f Fault) error {
	streams := []string{f.Stream}
	if f.Stream == "both" || f.Stream == "" {
		streams = []string{"upstream", "downstream"}
	}
	if f.Type == "reset_peer" {
		// toxiproxy sets SO_LINGER 0 only for a reset toxic present when
		// a link starts; one added later must reset, not close politely.
		_ = c.client.SetLinger(0)
		_ = c.upstream.SetLinger(0)
	}
	for _, s := range streams {
		c.mu.Lock()
		if f.Type == "timeout" {
			c.blackholed = true
		}
		name := fmt.Sprintf("%s_%s_%d", f.Type, s, len(c.names))
		c.names = append(c.names, name)
		c.mu.Unlock()
		body := map[string]any{"name": name, "type": f.Type, "stream": s, "toxicity": 1.0, "attributes": f.Attributes}
		js, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("dbtest: fault proxy: %w", err)
		}
		if _, err := c.px.Toxics.AddToxicJson(bytes.NewReader(js)); err != nil {
			return fmt.Errorf("dbtest: fault proxy: add %s toxic to connection %d: %w", f.Type, c.ClientPort, err)
		}
	}
	return nil
}

// Heal removes every fault from the connection. A blackholed connection
// is closed instead: the data it dropped cannot be made up, so it could
// only go on as a corrupt stream (toxiproxy, too, closes a connection
// whose timeout toxic is removed).
func (c *FaultConn) Heal() {
	c.mu.Lock()
	names, blackholed := c.names, c.blackholed
	c.names = nil
	c.mu.Unlock()
	if blackholed {
		c.close()
		return
	}
	for _, n := range names {
		_ = c.px.Toxics.RemoveToxic(context.Background(), n)
	}
}

// Reset aborts the connection at once, mid-statement or not: both sockets
// are closed with SO_LINGER 0, so the client and the server each get a
// TCP RST, as when a middlebox drops the flow.
func (c *FaultConn) Reset() {
	_ = c.client.SetLinger(0)
	_ = c.upstream.SetLinger(0)
	c.close()
}

// Closed reports whether the connection has been closed by the proxy
// (Reset, Heal of a blackhole, or Close). A close by either end that the
// proxy has not acted on yet is not seen here.
func (c *FaultConn) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *FaultConn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	_ = c.client.Close()
	_ = c.upstream.Close()
}

// String names the connection for messages.
func (c *FaultConn) String() string {
	return fmt.Sprintf("proxied connection from %s (server-side client_port %d)", c.client.RemoteAddr(), c.ClientPort)
}
