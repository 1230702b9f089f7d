package fleetgate_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
)

// TestAdoptHistories reads each tool's table as the tool writes it, on
// PostgreSQL and SQLite, and records what it says.
func TestAdoptHistories(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		from     fleetgate.Tool
		setup    string
		applied  []int64
		pending  []int64
		notLocal []string
		wantErr  func(t *testing.T, err error)
	}{
		{
			name: "GolangMigrate", from: fleetgate.FromGolangMigrate,
			setup:   "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (3, false)",
			applied: []int64{1, 2, 3}, pending: []int64{4, 5, 6},
		},
		{
			name: "GolangMigrateAheadOfTheDirectory", from: fleetgate.FromGolangMigrate,
			setup:   "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (8, false)",
			applied: []int64{1, 2, 3, 4, 5, 6}, pending: []int64{}, notLocal: []string{"8"},
		},
		{
			name: "GolangMigrateEmpty", from: fleetgate.FromGolangMigrate,
			setup:   "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)",
			applied: []int64{}, pending: []int64{1, 2, 3, 4, 5, 6},
		},
		{
			name: "GooseNewestRowWins", from: fleetgate.FromGoose,
			setup: "CREATE TABLE goose_db_version (id integer PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT CURRENT_TIMESTAMP);" +
				"INSERT INTO goose_db_version (id, version_id, is_applied) VALUES (1, 0, true), (2, 1, true), (3, 2, true), (4, 3, true), (5, 3, false), (6, 9, true)",
			applied: []int64{1, 2}, pending: []int64{3, 4, 5, 6}, notLocal: []string{"9"},
		},
		{
			name: "Dbmate", from: fleetgate.FromDbmate,
			setup:   "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('1'), ('2'), ('5')",
			applied: []int64{1, 2, 5}, pending: []int64{3, 4, 6},
		},
		{
			name: "GolangMigrateDirty", from: fleetgate.FromGolangMigrate,
			setup: "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (4, true)",
			wantErr: func(t *testing.T, err error) {
				var ve *fleetgate.ValidationError
				require.ErrorAs(t, err, &ve)
				require.Equal(t, 4, fleetgate.ExitCode(err))
				require.ErrorContains(t, err, "golang-migrate left version 4 dirty")
				require.ErrorContains(t, err, "`migrate force 3` (undone)")
			},
		},
		{
			name: "DbmateIsNotGolangMigrate", from: fleetgate.FromDbmate,
			setup: "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)",
			wantErr: func(t *testing.T, err error) {
				var ce *fleetgate.ConfigError
				require.ErrorAs(t, err, &ce)
				require.Equal(t, "AdoptOpts.From", ce.Setting)
				require.ErrorContains(t, err, "has a dirty column")
			},
		},
		{
			name: "NoTable", from: fleetgate.FromGoose, setup: "SELECT 1",
			wantErr: func(t *testing.T, err error) {
				require.Equal(t, 2, fleetgate.ExitCode(err))
				require.ErrorContains(t, err, "no goose history table goose_db_version in this database")
			},
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					ctx := context.Background()
					m, err := fleetgate.Open(ctx, b.url(t), files(6), nil)
					require.NoError(t, err)
					t.Cleanup(func() { m.Close() })
					_, err = m.DB().ExecContext(ctx, tt.setup)
					require.NoError(t, err)

					res, err := m.Adopt(ctx, &fleetgate.AdoptOpts{From: tt.from})
					if tt.wantErr != nil {
						require.Error(t, err)
						tt.wantErr(t, err)
						st, err := m.Status(ctx)
						require.NoError(t, err)
						for _, s := range st.Migrations {
							require.Equal(t, fleetgate.StatePending, s.State, "nothing recorded")
						}
						return
					}
					require.NoError(t, err)
					require.Equal(t, tt.applied, res.Applied)
					require.Equal(t, tt.applied, res.Recorded)
					require.Equal(t, tt.pending, res.Pending)
					if tt.notLocal == nil {
						tt.notLocal = []string{}
					}
					require.Equal(t, tt.notLocal, res.NotLocal)

					st, err := m.Status(ctx)
					require.NoError(t, err)
					adopted := []int64{}
					for _, s := range st.Migrations {
						if s.Adopted {
							require.Equal(t, fleetgate.StateApplied, s.State)
							adopted = append(adopted, s.Version)
						}
					}
					require.Equal(t, tt.applied, adopted)

					again, err := m.Adopt(ctx, &fleetgate.AdoptOpts{From: tt.from})
					require.NoError(t, err)
					require.Empty(t, again.Recorded, "idempotent")
				})
			}
		})
	}
}

// TestAdoptConcurrently: many migrators adopting at once record each
// version once, and all succeed.
func TestAdoptConcurrently(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := b.url(t)
			setup, err := fleetgate.Open(ctx, url, files(6), nil)
			require.NoError(t, err)
			defer setup.Close()
			_, err = setup.DB().ExecContext(ctx, "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('1'), ('2'), ('3')")
			require.NoError(t, err)

			const n = 8
			recorded := make([][]int64, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					m, err := fleetgate.Open(ctx, url, files(6), &fleetgate.Config{PollInterval: 20_000_000})
					if err != nil {
						errs[i] = err
						return
					}
					defer m.Close()
					res, err := m.Adopt(ctx, &fleetgate.AdoptOpts{From: fleetgate.FromDbmate})
					if err == nil {
						recorded[i] = res.Recorded
					}
					errs[i] = err
				})
			}
			wg.Wait()
			total := 0
			for i := range n {
				require.NoError(t, errs[i])
				total += len(recorded[i])
			}
			require.Equal(t, 3, total, "each version recorded once")

			res, err := setup.Up(ctx, nil)
			require.NoError(t, err)
			require.Equal(t, []int64{4, 5, 6}, res.Applied)
		})
	}
}

func TestAdoptOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, err := fleetgate.Open(ctx, "sqlite:"+t.TempDir()+"/x.db", files(2), nil)
	require.NoError(t, err)
	defer m.Close()
	for _, o := range []*fleetgate.AdoptOpts{nil, {From: "liquibase"}, {From: fleetgate.FromGoose, Table: "bad name"}} {
		_, err := m.Adopt(ctx, o)
		var ce *fleetgate.ConfigError
		require.True(t, errors.As(err, &ce), "%v: %v", o, err)
	}
}
