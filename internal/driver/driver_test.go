package driver

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewTables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, spec string
		want       Tables
		err        bool
	}{
		{name: "Default", spec: "fleetgate_migrations", want: Tables{Migrations: "fleetgate_migrations", Events: "fleetgate_events", Lock: "fleetgate_lock", Instances: "fleetgate_instances"}},
		{name: "Schema", spec: "ops.app_migrations", want: Tables{Schema: "ops", Migrations: "app_migrations", Events: "app_events", Lock: "app_lock", Instances: "app_instances"}},
		{name: "OtherName", spec: "schema_history", want: Tables{Migrations: "schema_history", Events: "schema_history_events", Lock: "schema_history_lock", Instances: "schema_history_instances"}},
		{name: "Injection", spec: "x; DROP TABLE users; --", err: true},
		{name: "Quote", spec: `a"b`, err: true},
		{name: "Empty", spec: "", err: true},
		{name: "EmptySchema", spec: ".x", err: true},
		{name: "EmptyName", spec: "x.", err: true},
		{name: "TooLong", spec: "t" + string(make([]byte, 60)), err: true},
		{name: "LookAlike", spec: "fleetgate_migrаtions", err: true}, // Cyrillic а
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NewTables(tt.spec)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
