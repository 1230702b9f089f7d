package driver

import (
	"database/sql"
	"sort"
	"strings"
	"sync"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

// Engine is what a driver package registers, from its init function, so
// that opening a database needs no switch over the engines: the URL's
// scheme finds the engine, the engine parses the URL, opens the pool and
// makes the Driver. A binary leaves an engine out by not importing its
// package (see the root package's driver_*.go files and their build tags).
type Engine struct {
	Dialect dialect.Dialect
	// Name is the database's name in messages ("PostgreSQL").
	Name string
	// Schemes are the URL schemes it answers to, lower case; the first
	// is the one messages suggest, written as in Example.
	Schemes []string
	// Example is the URL form messages suggest ("postgres://", "sqlite:").
	Example []string
	// Open parses a fleetgate URL of this engine and opens its pool. Its
	// errors are about the URL and never contain it: redact names the URL
	// safely.
	Open func(url string, redact func(string) string) (*sql.DB, error)
	// New returns the Driver for tables t, or an error about t.
	New func(t Tables) (Driver, error)
}

var (
	regMu    sync.RWMutex
	bySchema = map[string]*Engine{}
	byDial   = map[dialect.Dialect]*Engine{}
)

// Register makes an engine available. It panics on a scheme or dialect
// registered twice: that is a programming error.
func Register(e Engine) {
	regMu.Lock()
	defer regMu.Unlock()
	if byDial[e.Dialect] != nil {
		panic("driver: dialect registered twice: " + string(e.Dialect))
	}
	for _, s := range e.Schemes {
		if bySchema[s] != nil {
			panic("driver: URL scheme registered twice: " + s)
		}
		bySchema[s] = &e
	}
	byDial[e.Dialect] = &e
}

// ForScheme returns the engine of a URL scheme (any case), nil when none
// is built in.
func ForScheme(scheme string) *Engine {
	regMu.RLock()
	defer regMu.RUnlock()
	return bySchema[strings.ToLower(scheme)]
}

// ForDialect returns the engine of d, nil when it is not built in.
func ForDialect(d dialect.Dialect) *Engine {
	regMu.RLock()
	defer regMu.RUnlock()
	return byDial[d]
}

// Examples lists the URL forms of the built-in engines for messages:
// "postgres://, postgresql:// or sqlite:". all includes every example of
// each engine, else only the first.
func Examples(all bool) string {
	regMu.RLock()
	engines := make([]*Engine, 0, len(byDial))
	for _, e := range byDial {
		engines = append(engines, e)
	}
	regMu.RUnlock()
	sort.Slice(engines, func(i, j int) bool { return engines[i].Dialect < engines[j].Dialect })
	var ex []string
	for _, e := range engines {
		if all {
			ex = append(ex, e.Example...)
		} else if len(e.Example) > 0 {
			ex = append(ex, e.Example[0])
		}
	}
	switch len(ex) {
	case 0:
		return "none in this build"
	case 1:
		return ex[0]
	}
	return strings.Join(ex[:len(ex)-1], ", ") + " or " + ex[len(ex)-1]
}

// Known names the engine of a scheme fleetgate knows of, built in or not,
// so that a binary built without one (or before one exists) says so
// rather than calling the scheme unknown.
func Known(scheme string) (name string, ok bool) {
	name, ok = known[strings.ToLower(scheme)]
	return name, ok
}

var known = map[string]string{
	"postgres": "PostgreSQL", "postgresql": "PostgreSQL",
	"sqlite": "SQLite", "sqlite3": "SQLite",
	"mysql": "MySQL/MariaDB", "mariadb": "MySQL/MariaDB",
}
