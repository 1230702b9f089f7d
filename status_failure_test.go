package fleetgate_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
)

// TestStatusNamesFailedStatement on both engines: a no-transaction
// migration whose statement 3 of 5 fails is partial in Status, with how
// many statements ran, the failure and its line; once the fixed file is
// applied, none of that remains.
func TestStatusNamesFailedStatement(t *testing.T) {
	t.Parallel()
	five := func(third string) fstest.MapFS {
		return fstest.MapFS{"1_five.sql": {Data: []byte("-- fleetgate:no-transaction\n-- fleetgate:up\n" +
			"CREATE TABLE r1 (id int);\nINSERT INTO r1 VALUES (2);\n" + third + ";\nINSERT INTO r1 VALUES (4);\nCREATE TABLE r5 (id int);\n")}}
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			url := b.url(t)
			m, err := fleetgate.Open(ctx, url, five("INSERT INTO no_such_table VALUES (3)"), &fleetgate.Config{Checks: fleetgate.ChecksOff})
			require.NoError(t, err)
			t.Cleanup(func() { m.Close() })
			_, err = m.Up(ctx, nil)
			require.Error(t, err)
			st, err := m.Status(ctx)
			require.NoError(t, err)
			require.Len(t, st.Migrations, 1)
			s := st.Migrations[0]
			require.Equal(t, fleetgate.StatePartial, s.State)
			require.Equal(t, 2, s.StatementsDone)
			require.Equal(t, 5, s.Statements)
			require.Equal(t, 5, s.ErrorLine, "statement 3 is on line 5")
			require.Contains(t, s.Error, "no_such_table")

			fixed, err := fleetgate.Open(ctx, url, five("CREATE TABLE r3 (id int)"), &fleetgate.Config{Checks: fleetgate.ChecksOff})
			require.NoError(t, err)
			t.Cleanup(func() { fixed.Close() })
			_, err = fixed.Up(ctx, nil)
			require.NoError(t, err)
			st, err = fixed.Status(ctx)
			require.NoError(t, err)
			s = st.Migrations[0]
			require.Equal(t, fleetgate.StateApplied, s.State)
			require.Zero(t, s.Statements)
			require.Empty(t, s.Error)
		})
	}
}
