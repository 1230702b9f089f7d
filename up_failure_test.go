package fleetgate_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
)

// A migration whose own statement breaks a unique constraint has failed:
// Up stops there with its error, records nothing for it, and applies
// nothing after it. A unique violation used to be taken for the history
// row of another runner (a skip), so the run went on and exited 0.
func TestUpStatementUniqueViolationFails(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			ctx := context.Background()
			fsys := fstest.MapFS{
				"1_dup.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE u (id integer PRIMARY KEY);\n" +
					"INSERT INTO u VALUES (1);\nINSERT INTO u VALUES (1);\n")},
				"2_after.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE after_dup (id integer);\n")},
			}
			m, err := fleetgate.Open(ctx, url, fsys, &fleetgate.Config{Init: true, Checks: fleetgate.ChecksOff})
			require.NoError(t, err)
			defer m.Close()
			res, err := m.Up(ctx, nil)
			require.Error(t, err, "a failed migration was skipped")
			require.Contains(t, err.Error(), "1_dup.sql:4")
			if res != nil {
				require.Empty(t, res.Applied)
			}
			st, err := m.Status(ctx)
			require.NoError(t, err)
			require.Len(t, st.Migrations, 2)
			for _, ms := range st.Migrations {
				require.Nil(t, ms.AppliedAt, "version %d is applied after the first migration failed", ms.Version)
			}
		})
	}
}
