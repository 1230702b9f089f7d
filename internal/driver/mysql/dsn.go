// Package mysql holds what fleetgate needs to speak to MySQL and MariaDB
// that does not depend on the driver seam: turning the URLs operators
// already have into a go-sql-driver/mysql configuration (dsn.go), and the
// fenced lease lock (lease.go).
package mysql

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/fleetgate/fleetgate/internal/redact"
)

// Target is a parsed MySQL or MariaDB URL.
type Target struct {
	// Config is ready for mysql.NewConnector. Parameters go-sql-driver does
	// not know are in Config.Params, which it sends as session variables
	// (SET name=value) on every new connection, as it always does.
	Config *mysql.Config
	// MariaDB is set for a mariadb:// URL. The server says what it is
	// anyway; this only records what the operator wrote.
	MariaDB bool
	// Custom holds golang-migrate's own x- parameters other than the TLS
	// ones (x-migrations-table, x-no-lock, ...), which are not for the
	// server: adopting a golang-migrate history needs x-migrations-table.
	Custom map[string]string
}

// ParseURL reads a database URL in one of the forms deploy configs already
// use:
//
//	mysql://user:pass@host:3306/db?params     (a URL, as for PostgreSQL)
//	mariadb://user:pass@host:3306/db?params   (the same)
//	mysql://user:pass@tcp(host:3306)/db?params (golang-migrate's form: a
//	                                           go-sql-driver DSN behind mysql://)
//
// In the URL forms the user and password are percent-decoded, the port
// defaults to 3306, and socket=/path connects over a Unix socket instead.
// In golang-migrate's form the DSN is read by go-sql-driver, then the user
// and password are percent-decoded, as golang-migrate does. Parameters are
// go-sql-driver's (tls, timeout, parseTime, charset, ...) or session
// variables; TLS settings pass through: tls=true, skip-verify or preferred,
// or golang-migrate's tls=<name> with x-tls-ca, x-tls-cert, x-tls-key and
// x-tls-insecure-skip-verify, whose files are read here.
//
// An error is one line that names the URL with its password masked and the
// part that is wrong; it never contains the password.
func ParseURL(raw string) (*Target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	t := &Target{}
	switch {
	case !ok:
		// Nothing of it is shown: without "://" there is no telling which
		// part is the password.
		return nil, errors.New("database URL: not a URL (want mysql://user:password@host:3306/dbname)")
	case strings.EqualFold(scheme, "mysql"):
	case strings.EqualFold(scheme, "mariadb"):
		t.MariaDB = true
	default:
		return nil, urlErr(raw, fmt.Sprintf("scheme %q is not mysql or mariadb", scheme))
	}
	var err error
	if isDriverDSN(rest) {
		err = t.parseDriverDSN(raw, rest)
	} else {
		err = t.parseURL(raw)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// isDriverDSN reports whether rest (the URL after "scheme://") is a
// go-sql-driver DSN: an address in protocol(...) form where a URL has its
// host.
func isDriverDSN(rest string) bool {
	for _, p := range []string{"tcp(", "tcp4(", "tcp6(", "unix("} {
		if strings.HasPrefix(rest, p) || strings.Contains(rest, "@"+p) {
			return true
		}
	}
	return false
}

func (t *Target) parseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return urlErr(raw, urlProblem(err))
	}
	if u.Opaque != "" {
		return urlErr(raw, "not a URL (want mysql://user:password@host:3306/dbname)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return urlErr(raw, "the query cannot be parsed: "+err.Error())
	}
	addr, network := u.Host, "tcp"
	if sock := q.Get("socket"); sock != "" {
		if u.Host != "" {
			return urlErr(raw, "both a host and socket= are given; use one")
		}
		addr, network = sock, "unix"
		q.Del("socket")
	} else {
		if u.Hostname() == "" {
			return urlErr(raw, "no host (want mysql://user:password@host:3306/dbname, or socket=/path)")
		}
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "3306")
		}
	}
	db := strings.TrimPrefix(u.Path, "/")
	if strings.Contains(db, "/") {
		return urlErr(raw, fmt.Sprintf("database name %q contains '/'", db))
	}
	cfg, custom, err := configFromParams(raw, network, addr, q)
	if err != nil {
		return err
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = db
	t.Config, t.Custom = cfg, custom
	return nil
}

// parseDriverDSN reads golang-migrate's form: the text after "mysql://" is a
// go-sql-driver DSN.
func (t *Target) parseDriverDSN(raw, dsn string) error {
	// go-sql-driver splits at the last '/' before the parameters; the
	// parameters are taken apart here so that a bad one can be named.
	// The parameters start at the first '?' after the address's ")/", so
	// that a parameter value may hold '/' (x-tls-ca=/etc/ca.pem) and the
	// password '?'.
	base, query := dsn, ""
	if end := strings.Index(dsn, ")/"); end >= 0 {
		if i := strings.IndexByte(dsn[end:], '?'); i >= 0 {
			base, query = dsn[:end+i], dsn[end+i+1:]
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return urlErr(raw, "the query cannot be parsed: "+err.Error())
	}
	parsed, err := mysql.ParseDSN(base)
	if err != nil {
		return urlErr(raw, "the address part cannot be parsed: "+scrub(raw, err.Error()))
	}
	cfg, custom, err := configFromParams(raw, parsed.Net, parsed.Addr, q)
	if err != nil {
		return err
	}
	// golang-migrate percent-decodes these after go-sql-driver has read
	// them; doing the same keeps its URLs working unchanged.
	if cfg.User, err = url.QueryUnescape(parsed.User); err != nil {
		return urlErr(raw, "the user name has a malformed %-escape")
	}
	if cfg.Passwd, err = url.QueryUnescape(parsed.Passwd); err != nil {
		return urlErr(raw, "the password has a malformed %-escape")
	}
	cfg.DBName = parsed.DBName
	t.Config, t.Custom = cfg, custom
	return nil
}

// configFromParams builds the configuration for network/addr with the
// query parameters q applied by go-sql-driver itself, after taking out
// golang-migrate's x- parameters. The DSN given to go-sql-driver holds no
// user, password or database, so nothing it says can leak them.
func configFromParams(raw, network, addr string, q url.Values) (*mysql.Config, map[string]string, error) {
	custom := map[string]string{}
	tlsFiles := map[string]string{}
	for k, vs := range q {
		if !strings.HasPrefix(k, "x-") {
			continue
		}
		v := vs[len(vs)-1]
		if strings.HasPrefix(k, "x-tls-") {
			tlsFiles[k] = v
		} else {
			custom[k] = v
		}
		q.Del(k)
	}
	var tlsCfg *tls.Config
	if name := q.Get("tls"); name != "" && !isBuiltinTLS(name) {
		var err error
		if tlsCfg, err = customTLS(name, tlsFiles); err != nil {
			return nil, nil, urlErr(raw, err.Error())
		}
		q.Del("tls")
	} else if len(tlsFiles) > 0 {
		return nil, nil, urlErr(raw, "x-tls-* parameters need tls=<name> (golang-migrate's custom TLS), not tls="+strconv.Quote(name))
	}
	// One parameter at a time first, so that an error names the parameter
	// (go-sql-driver's messages often give only the value).
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		one := url.Values{k: q[k]}
		if _, err := mysql.ParseDSN("tcp(127.0.0.1:3306)/?" + one.Encode()); err != nil {
			return nil, nil, urlErr(raw, fmt.Sprintf("parameter %s: %s", k, scrub(raw, err.Error())))
		}
	}
	cfg, err := mysql.ParseDSN(network + "(" + addr + ")/?" + q.Encode())
	if err != nil {
		return nil, nil, urlErr(raw, "address "+addr+": "+scrub(raw, err.Error()))
	}
	if tlsCfg != nil {
		if !tlsCfg.InsecureSkipVerify && network != "unix" {
			if host, _, err := net.SplitHostPort(cfg.Addr); err == nil {
				tlsCfg.ServerName = host
			}
		}
		cfg.TLS = tlsCfg
	}
	return cfg, custom, nil
}

func isBuiltinTLS(v string) bool {
	switch strings.ToLower(v) {
	case "true", "false", "1", "0", "skip-verify", "preferred":
		return true
	}
	return false
}

// customTLS builds golang-migrate's named TLS configuration from its
// x-tls-* parameters instead of registering it globally in go-sql-driver.
func customTLS(name string, p map[string]string) (*tls.Config, error) {
	ca := p["x-tls-ca"]
	if ca == "" {
		return nil, fmt.Errorf("tls=%s names a custom TLS configuration, which needs x-tls-ca=<CA file> (or use tls=true, skip-verify or preferred)", name)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("x-tls-ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("x-tls-ca %s: no PEM certificate in the file", ca)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	cert, key := p["x-tls-cert"], p["x-tls-key"]
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("x-tls-cert/x-tls-key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case cert != "" || key != "":
		return nil, errors.New("x-tls-cert and x-tls-key must be given together")
	}
	if v := p["x-tls-insecure-skip-verify"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("x-tls-insecure-skip-verify=%s is not true or false", v)
		}
		cfg.InsecureSkipVerify = b
	}
	return cfg, nil
}

// urlErr is a one-line error about the URL raw, shown with its secrets
// masked.
func urlErr(raw, problem string) error {
	return fmt.Errorf("database URL %s: %s", redact.URL(raw), scrub(raw, problem))
}

// scrub removes raw's secrets from a message that might echo them.
func scrub(raw, msg string) string {
	return redact.NewScrubber(redact.Secrets(raw)...).String(msg)
}

// urlProblem says what url.Parse found wrong, without the URL.
func urlProblem(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "cannot be parsed"
	}
	msg := ue.Err.Error()
	if port, ok := strings.CutPrefix(msg, "invalid port "); ok {
		port, _, _ = strings.Cut(port, " after host")
		return fmt.Sprintf("port %s is not a number", strings.TrimPrefix(strings.Trim(port, `"`), ":"))
	}
	if strings.Contains(msg, "invalid userinfo") {
		return "the user or password has a character that must be percent-encoded (e.g. @ as %40, / as %2F)"
	}
	return "cannot be parsed: " + msg
}

// mysqlErrorNumber returns the server's error number in err, 0 if none.
func mysqlErrorNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}
