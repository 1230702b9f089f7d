package mysql

import (
	"context"
	"database/sql"
	"io"
	"log"
	"maps"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/driver"
)

func init() {
	// go-sql-driver logs broken connections to stderr as well as
	// returning them; fleetgate reports the errors it gets, once.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	driver.Register(driver.Engine{
		Dialect: dialect.MySQL,
		Name:    "MySQL/MariaDB",
		Schemes: []string{"mysql", "mariadb"},
		Example: []string{"mysql://", "mariadb://"},
		Open:    Open,
		New:     func(t driver.Tables) (driver.Driver, error) { return New(t), nil },
	})
}

// Open parses a mysql:// or mariadb:// URL (or golang-migrate's
// mysql://user:pass@tcp(host:port)/db form, see ParseURL) and opens the
// pool. Its errors never contain the password: ParseURL masks it.
//
// It sets what fleetgate relies on unless the URL says otherwise:
// parameters interpolated by the client (one round trip per statement,
// no server-side prepared statements to strand behind ProxySQL),
// found-rows counts (an UPDATE that matches the lease row counts it even
// when nothing changed), a 10 s connect timeout, and UTC as the session
// time zone, so that TIMESTAMP columns read and compare the same
// instants whatever the server's zone.
func Open(raw string, _ func(string) string) (*sql.DB, error) {
	t, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	cfg := t.Config
	cfg.InterpolateParams = true
	cfg.ClientFoundRows = true
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultConnectTimeout
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["time_zone"]; !ok {
		cfg.Params["time_zone"] = "'+00:00'"
	}
	switch cfg.Net {
	case "tcp", "tcp4", "tcp6", "unix":
		cfg.DialFunc = dialTracked
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, urlErr(raw, err.Error())
	}
	// The same settings with multiStatements, for fleetgate's own batches
	// only (idConn.batch); migration SQL never goes there, since its
	// statements are split by fleetgate and each must run alone.
	bcfg := cfg.Clone()
	bcfg.MultiStatements = true
	// A batch waits for a row lock only briefly (see tx.Commit): the
	// one thing it may wait for long is a transaction the migration left
	// open on its own session, and it then commits there instead.
	bcfg.Params = maps.Clone(cfg.Params)
	bcfg.Params["innodb_lock_wait_timeout"] = strconv.Itoa(batchLockWait)
	b, err := mysql.NewConnector(bcfg)
	if err != nil {
		return nil, urlErr(raw, err.Error())
	}
	return sql.OpenDB(idConnector{Connector: c, batch: b}), nil
}

const defaultConnectTimeout = 10 * time.Second

// batchLockWait is the side session's innodb_lock_wait_timeout, in
// seconds: longer than any renewal holds the lease row.
const batchLockWait = 5

// ownPorts are the local TCP ports of this process's open connections to
// a MySQL server. SessionIsDirect compares them with the client port the
// server sees for a session: equal when nothing (ProxySQL, a NAT) stands
// between, so that the session is this client's own.
var ownPorts = struct {
	sync.Mutex
	m map[int]int
}{m: map[int]int{}}

// dialTracked dials as go-sql-driver does (its connect timeout is in
// ctx), records a TCP connection's local port until it is closed, and
// hands the connection to idConnector.Connect (see dialedKey).
func dialTracked(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		if h, ok := ctx.Value(dialedKey{}).(*net.Conn); ok {
			*h = c
		}
		return c, nil
	}
	// go-sql-driver turns keep-alive on for a *net.TCPConn only, which
	// the wrapper hides; do it here.
	_ = tc.SetKeepAlive(true)
	port := 0
	if a, ok := tc.LocalAddr().(*net.TCPAddr); ok {
		port = a.Port
	}
	ownPorts.Lock()
	ownPorts.m[port]++
	ownPorts.Unlock()
	t := &trackedConn{TCPConn: tc, port: port}
	if h, ok := ctx.Value(dialedKey{}).(*net.Conn); ok {
		*h = t
	}
	return t, nil
}

// dialedKey is the context key under which idConnector.Connect asks
// dialTracked for the network connection it dials (a *net.Conn to fill).
type dialedKey struct{}

type trackedConn struct {
	*net.TCPConn
	port int
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		ownPorts.Lock()
		if ownPorts.m[c.port]--; ownPorts.m[c.port] <= 0 {
			delete(ownPorts.m, c.port)
		}
		ownPorts.Unlock()
	})
	return c.TCPConn.Close()
}

func ownPort(p int) bool {
	ownPorts.Lock()
	defer ownPorts.Unlock()
	return ownPorts.m[p] > 0
}
