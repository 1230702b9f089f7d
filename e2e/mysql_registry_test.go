package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fleet registry on MariaDB runs the registry tests of
// registry_test.go (fleetEngines); this is what only MariaDB needs.

// myReadOnlyURL is url for a new MariaDB user who may only read the
// test's database (dropped when the test ends).
func myReadOnlyURL(t *testing.T, db *sql.DB, raw string) (string, string) {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	name := "e2e_ro_" + strings.ToLower(rand.Text()[:8])
	pw := "ro-secret-" + name
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", name, pw),
		fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", strings.TrimPrefix(u.Path, "/"), name),
	} {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() {
		_, _ = db.ExecContext(context.Background(), fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name))
	})
	u.User = url.UserPassword(name, pw)
	return u.String(), pw
}
