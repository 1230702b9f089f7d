package dbtest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// WireCounter is a TCP proxy (on 127.0.0.1) between PostgreSQL clients and
// a server that records, per client connection, the frontend messages
// after which a client waits for the server: Query (the simple protocol,
// one per round trip, with its text) and Sync (the extended protocol). It
// lets a test count what an operation costs in round trips and see the
// statements it sent, on the wire, without a hook in the code under test.
// Like any proxy, it makes a client's session not direct (see FaultProxy).
type WireCounter struct {
	Addr string

	ln    net.Listener
	mu    sync.Mutex
	conns []*WireConn
	wg    sync.WaitGroup
}

// WireConn is what one proxied client connection sent.
type WireConn struct {
	mu      sync.Mutex
	queries []string
	syncs   int
}

// Queries are the texts of the Query messages, in order.
func (c *WireConn) Queries() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.queries...)
}

// RoundTrips is the number of Query and Sync messages.
func (c *WireConn) RoundTrips() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queries) + c.syncs
}

// NewWireCounter starts a counter in front of the server of dbURL and
// returns it with the URL that reaches the same database through it (TLS
// off, since the messages must be readable). It is closed in t.Cleanup.
func NewWireCounter(t testing.TB, dbURL string) (*WireCounter, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("wire counter: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("wire counter: %v", err)
	}
	wc := &WireCounter{Addr: ln.Addr().String(), ln: ln}
	upstream := u.Host
	wc.wg.Add(1)
	go wc.accept(upstream)
	t.Cleanup(wc.Close)
	u.Host = wc.Addr
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return wc, u.String()
}

// Conns are the connections made so far, in the order they were accepted.
func (wc *WireCounter) Conns() []*WireConn {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return append([]*WireConn(nil), wc.conns...)
}

// Reset forgets every connection counted so far (open ones stop counting).
func (wc *WireCounter) Reset() {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	for _, c := range wc.conns {
		c.mu.Lock()
		c.queries, c.syncs = nil, 0
		c.mu.Unlock()
	}
}

// Close stops accepting and waits for the proxied connections to end.
func (wc *WireCounter) Close() {
	wc.ln.Close()
	wc.wg.Wait()
}

func (wc *WireCounter) accept(upstream string) {
	defer wc.wg.Done()
	var live sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	defer func() {
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		live.Wait()
	}()
	for {
		client, err := wc.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", upstream)
		if err != nil {
			client.Close()
			continue
		}
		mu.Lock()
		open = append(open, client, server)
		mu.Unlock()
		c := &WireConn{}
		wc.mu.Lock()
		wc.conns = append(wc.conns, c)
		wc.mu.Unlock()
		live.Add(2)
		go func() {
			defer live.Done()
			_, _ = io.Copy(client, server)
			client.Close()
		}()
		go func() {
			defer live.Done()
			_ = c.forward(server, client)
			server.Close()
		}()
	}
}

// forward copies the client's messages to the server, recording them.
// Before the startup message, messages carry no type byte (an SSL or
// GSS encryption request may come first; the server's one-byte refusal
// passes the other way untouched).
func (c *WireConn) forward(dst io.Writer, src io.Reader) error {
	started := false
	head := make([]byte, 5)
	for {
		if !started {
			if _, err := io.ReadFull(src, head[:4]); err != nil {
				return err
			}
			n := int(binary.BigEndian.Uint32(head[:4]))
			if n < 8 {
				return errors.New("wire counter: bad startup length")
			}
			body := make([]byte, n-4)
			if _, err := io.ReadFull(src, body); err != nil {
				return err
			}
			// 3.0 protocol startup message; anything else (SSLRequest,
			// GSSENCRequest, CancelRequest) comes before it or alone.
			started = binary.BigEndian.Uint32(body[:4]) == 196608
			if _, err := dst.Write(append(head[:4:4], body...)); err != nil {
				return err
			}
			continue
		}
		if _, err := io.ReadFull(src, head); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(head[1:]))
		if n < 4 {
			return errors.New("wire counter: bad message length")
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(src, body); err != nil {
			return err
		}
		switch head[0] {
		case 'Q':
			c.mu.Lock()
			c.queries = append(c.queries, strings.TrimRight(string(body), "\x00"))
			c.mu.Unlock()
		case 'S':
			c.mu.Lock()
			c.syncs++
			c.mu.Unlock()
		}
		if _, err := dst.Write(append(head[:5:5], body...)); err != nil {
			return err
		}
	}
}
