package fleetgate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The URL's scheme finds the registered engine; a scheme fleetgate knows
// but this build lacks is named as such, an unknown one lists what is
// built in, and no message repeats a password.
func TestEngineFor(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"postgres", "PostgreSQL", "sqlite", "sqlite3", "mysql", "MariaDB"} {
		e, err := engineFor(scheme + "://u:secret@h/db")
		require.NoError(t, err, scheme)
		require.NotNil(t, e.New, scheme)
	}
	_, err := engineFor("oracle://u:secret@h/db")
	require.ErrorContains(t, err, `unknown URL scheme "oracle" (want mysql://, mariadb://, postgres://, postgresql:// or sqlite:)`)
	_, err = engineFor("u:secret@h")
	require.ErrorContains(t, err, "unknown URL scheme")
	_, err = engineFor("nothing")
	require.ErrorContains(t, err, "is not a database URL (want mysql://, postgres:// or sqlite:)")
	require.NotContains(t, err.Error(), "secret")

	// The three MySQL forms deploy configs carry, golang-migrate's among
	// them, open without connecting; a bad one names the URL masked.
	for _, raw := range []string{"mysql://u:secret@h:3306/db?tls=true", "mariadb://u:secret@h/db", "mysql://u:secret@tcp(h:3306)/db?x-migrations-table=m"} {
		d, err := parseURL(raw)
		require.NoError(t, err, raw)
		require.Equal(t, MySQL, d, raw)
	}
	_, err = parseURL("mysql://u:secret@h:33x6/db")
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Contains(t, err.Error(), "mysql://u:xxxxx@h:33x6/db")
	require.NotContains(t, err.Error(), "secret")
}

// The library names its own settings (Config fields, the url argument),
// never the command line's flags; the CLI translates.
func TestConfigErrorsNameFields(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), "oracle://x", nil, nil)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "url", ce.Setting)
	_, err = New(nil, SQLite, nil, &Config{Table: "a;b"})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "Config.Table", ce.Setting)
	_, err = New(nil, SQLite, nil, &Config{LeaseTTL: time.Nanosecond})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "Config.LeaseTTL", ce.Setting)
}
