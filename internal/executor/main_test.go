package executor_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// No goroutine of the executor (lease watchers, the lock's heartbeat)
// outlives the work it served, once the tests and the servers are done.
func TestMain(m *testing.M) { goleak.VerifyTestMain(dbtest.M(m)) }
