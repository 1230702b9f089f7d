package cli

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestChildEnv(t *testing.T) {
	environ := []string{"PATH=/bin", "FLEETGATE_DATABASE_URL=postgres://migrator:pw@db/app",
		"DATABASE_URL=postgres://app:pw@db/app", "FLEETGATE_DIR=/m", "MY_FLEETGATE_X=kept"}
	require.Equal(t, []string{"PATH=/bin", "DATABASE_URL=postgres://app:pw@db/app", "MY_FLEETGATE_X=kept"},
		childEnv(environ, false))
	require.Equal(t, environ, childEnv(environ, true))
}

func TestRunFlagsGateExitOffset(t *testing.T) {
	for _, tc := range []struct {
		arg string
		ok  bool
	}{{"0", true}, {"100", true}, {"120", true}, {"121", false}, {"-1", false}} {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var r runFlags
		r.register(fs)
		require.NoError(t, fs.Parse([]string{"--gate-exit-offset", tc.arg}))
		if tc.ok {
			require.NoError(t, r.check(), tc.arg)
		} else {
			require.Error(t, r.check(), tc.arg)
		}
	}
}
