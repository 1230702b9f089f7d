package driver

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A deadline or a cancellation the caller set is final: no class that
// callers retry may claim it, however it is wrapped. A real network
// failure still is transient.
func TestCallerContextIsNotTransient(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		context.DeadlineExceeded,
		context.Canceled,
		fmt.Errorf("read history: %w", context.DeadlineExceeded),
		&net.OpError{Op: "read", Net: "tcp", Err: context.DeadlineExceeded},
		&StatementError{Message: "canceling statement due to user request", SQLState: "57014", Err: context.DeadlineExceeded},
	} {
		require.False(t, Is(nil, err, ErrTransient), "%v", err)
		require.False(t, IsTransient(nil, err), "%v", err)
	}
	for _, err := range []error{
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		fmt.Errorf("connect: %w", syscall.ECONNRESET),
	} {
		require.True(t, Is(nil, err, ErrTransient), "%v", err)
	}
}
