package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/driver"
)

func init() {
	driver.Register(driver.Engine{
		Dialect: dialect.SQLite,
		Name:    "SQLite",
		Schemes: []string{"sqlite", "sqlite3"},
		Example: []string{"sqlite:"},
		Open:    Open,
		New: func(t driver.Tables) (driver.Driver, error) {
			if t.Schema != "" {
				return nil, errNoSchemas
			}
			return New(t), nil
		},
	})
}

var errNoSchemas = errors.New("SQLite has no schemas; use a plain table name")

// Open parses a sqlite:path URL and opens the pool.
func Open(raw string, redact func(string) string) (*sql.DB, error) {
	_, rest, _ := strings.Cut(raw, ":")
	p, query, _ := strings.Cut(rest, "?")
	if strings.HasPrefix(p, "//") {
		p = p[2:]
	}
	if p == "" {
		return nil, errors.New("sqlite URL has no file path (want sqlite:path/to/file.db)")
	}
	q, qerr := url.ParseQuery(query)
	if qerr != nil {
		return nil, fmt.Errorf("malformed query in sqlite URL: %v", qerr)
	}
	// Every pooled connection gets the busy timeout: SQLite's busy
	// handler is per connection.
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+p+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", redact(raw), err)
	}
	return db, nil
}
