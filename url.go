package fleetgate

import (
	"database/sql"
	"strings"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/redact"
)

// Dialect names a database family.
type Dialect = dialect.Dialect

const (
	Postgres = dialect.Postgres
	SQLite   = dialect.SQLite
	MySQL    = dialect.MySQL
)

// engineFor finds the built-in engine of a fleetgate URL by its scheme.
// It never puts the URL itself in an error: only RedactURL's form.
func engineFor(raw string) (*driver.Engine, error) {
	scheme, _, ok := strings.Cut(raw, ":")
	if !ok || scheme == "" {
		return nil, configErr("url", "%q is not a database URL (want %s)", RedactURL(raw), driver.Examples(false))
	}
	if e := driver.ForScheme(scheme); e != nil {
		return e, nil
	}
	if name, ok := driver.Known(scheme); ok {
		return nil, configErr("url", "%s support is not in this build (use %s)", name, driver.Examples(false))
	}
	return nil, configErr("url", "unknown URL scheme %q (want %s)", scheme, driver.Examples(true))
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

// parseURL checks a database URL and names its dialect, without
// connecting (opening a pool connects lazily).
func parseURL(raw string) (Dialect, error) {
	db, d, err := openURL(raw)
	if err != nil {
		return "", err
	}
	db.Close()
	return d, nil
}

// openURL opens the pool of a database URL the way Open does.
func openURL(raw string) (*sql.DB, Dialect, error) {
	e, err := engineFor(raw)
	if err != nil {
		return nil, "", err
	}
	db, err := e.Open(raw, RedactURL)
	if err != nil {
		return nil, "", configErr("url", "%v", err)
	}
	return db, e.Dialect, nil
}

// ParseDialect reads a dialect by name: postgres (or postgresql), mysql
// (or mariadb) or sqlite; the names of the URL schemes.
func ParseDialect(s string) (Dialect, error) {
	if d, ok := schemeDialect[strings.ToLower(s)]; ok {
		return d, nil
	}
	return "", configErr("dialect", "unknown dialect %q (want postgres, mysql or sqlite)", s)
}

// URLDialect names the dialect of a database URL by its scheme alone:
// nothing is opened, and the engine need not be built in, so that
// `check` can read a deploy's DATABASE_URL to know what SQL its files are.
func URLDialect(raw string) (Dialect, bool) {
	scheme, _, ok := strings.Cut(raw, ":")
	if !ok {
		return "", false
	}
	if e := driver.ForScheme(scheme); e != nil {
		return e.Dialect, true
	}
	d, ok := schemeDialect[strings.ToLower(scheme)]
	return d, ok
}

var schemeDialect = map[string]Dialect{
	"postgres": Postgres, "postgresql": Postgres,
	"mysql": MySQL, "mariadb": MySQL,
	"sqlite": SQLite, "sqlite3": SQLite,
}
