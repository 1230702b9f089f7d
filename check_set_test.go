package fleetgate_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// invalidates-cached-plans knows which migrations are applied together:
// a table created by a pending migration is new to the pending ones after
// it (no running code can hold a statement on it), in `check` with a
// database and in what `up` logs; once that table is applied, a later
// change to it gets the advice.
func TestCheckPendingSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	files := fstest.MapFS{
		"1_people.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE people (id integer, name text);\n")},
		"2_full.sql":   {Data: []byte("-- fleetgate:up\nALTER TABLE people ADD COLUMN full_name text;\n")},
		"3_more.sql":   {Data: []byte("-- fleetgate:up\nALTER TABLE people ADD COLUMN nick text;\n")},
	}
	var logs bytes.Buffer
	cfg := &fleetgate.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	url := dbtest.Postgres(t)
	m, err := fleetgate.Open(ctx, url, files, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	advised := func(fs []fleetgate.Finding) []int64 {
		var out []int64
		for _, f := range fs {
			if f.Rule == "invalidates-cached-plans" {
				out = append(out, f.Version)
			}
		}
		return out
	}

	rep, err := m.Check(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, advised(rep.Findings), "people is created by a pending migration: %v", rep.Findings)

	_, err = m.Up(ctx, &fleetgate.UpOpts{To: 1})
	require.NoError(t, err)
	rep, err = m.Check(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, []int64{2, 3}, advised(rep.Findings), "people is in use now")

	logs.Reset()
	res, err := m.Up(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, []int64{2, 3}, res.Applied)
	require.Equal(t, 2, strings.Count(logs.String(), "invalidates-cached-plans"), "up logs the advice before applying:\n%s", logs.String())

	// All three applied together on a fresh database: no advice.
	logs.Reset()
	fresh, err := fleetgate.Open(ctx, dbtest.Postgres(t), files, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { fresh.Close() })
	res, err = fresh.Up(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2, 3}, res.Applied)
	require.NotContains(t, logs.String(), "invalidates-cached-plans")
}
