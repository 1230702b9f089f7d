package fleetgate

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/redact"
)

// Dialect names a database family.
type Dialect = dialect.Dialect

const (
	Postgres = dialect.Postgres
	SQLite   = dialect.SQLite
	MySQL    = dialect.MySQL
)

// parseURL maps a fleetgate database URL to a database/sql driver name and
// DSN. It never puts the URL itself in an error: only RedactURL's form.
func parseURL(raw string) (d Dialect, driverName, dsn string, err error) {
	scheme, _, ok := strings.Cut(raw, ":")
	if !ok || scheme == "" {
		return "", "", "", configErr("--database", "%q is not a database URL (want postgres:// or sqlite:)", RedactURL(raw))
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		u, perr := url.Parse(raw)
		if perr != nil {
			return "", "", "", configErr("--database", "malformed PostgreSQL URL %s: %s", RedactURL(raw), urlProblem(perr))
		}
		if u.Host == "" && !strings.Contains(u.RawQuery, "host=") {
			return "", "", "", configErr("--database", "malformed PostgreSQL URL %s: no host (want postgres://user@host:port/dbname)", RedactURL(raw))
		}
		q := u.Query()
		// Simple protocol: no prepared statements to strand on a
		// transaction pooler's server connections, and one round trip for
		// our multi-statement commits.
		if q.Get("default_query_exec_mode") == "" {
			q.Set("default_query_exec_mode", "simple_protocol")
		}
		if q.Get("application_name") == "" {
			q.Set("application_name", "fleetgate")
		}
		if q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", "10")
		}
		u.RawQuery = q.Encode()
		return Postgres, "pgx", u.String(), nil
	case "sqlite", "sqlite3":
		rest := raw[len(scheme)+1:]
		p, query, _ := strings.Cut(rest, "?")
		if strings.HasPrefix(p, "//") {
			p = p[2:]
		}
		if p == "" {
			return "", "", "", configErr("--database", "sqlite URL has no file path (want sqlite:path/to/file.db)")
		}
		q, qerr := url.ParseQuery(query)
		if qerr != nil {
			return "", "", "", configErr("--database", "malformed query in sqlite URL: %v", qerr)
		}
		// Every pooled connection gets the busy timeout: SQLite's busy
		// handler is per connection.
		q.Add("_pragma", "busy_timeout(10000)")
		return SQLite, "sqlite", "file:" + p + "?" + q.Encode(), nil
	case "mysql", "mariadb":
		return "", "", "", configErr("--database", "MySQL/MariaDB support is not in this build yet (use postgres:// or sqlite:)")
	}
	return "", "", "", configErr("--database", "unknown URL scheme %q (want postgres://, postgresql:// or sqlite:)", scheme)
}

// urlProblem says what url.Parse found wrong, without the URL (which the
// caller prints redacted).
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

// RedactURL shows a database URL with every secret replaced by "xxxxx".
func RedactURL(raw string) string { return redact.URL(raw) }

// URLSecrets returns the secret values of a database URL, for scrubbing
// output that might echo them.
func URLSecrets(raw string) []string { return redact.Secrets(raw) }

// SecretScrubber returns a function that replaces the given secrets (as
// URLSecrets returns them) with "xxxxx", longest first, so that a secret
// containing another is replaced whole.
func SecretScrubber(secrets []string) func(string) string {
	return redact.NewScrubber(secrets...).String
}
