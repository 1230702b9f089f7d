package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fleetgate/fleetgate"
)

// interrupted is the cancellation cause SignalContext records, so that the
// exit status can say which signal stopped fleetgate.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.sig.String() }

// SignalContext is signal.NotifyContext for SIGINT and SIGTERM, with the
// signal kept as the context's cause: an interrupted up or wait then exits
// 130 or 143 with "interrupted" rather than 1 with "context canceled", which
// would read as a failed migration.
func SignalContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(interrupted{s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// failInterrupted prints err; when the context was cancelled by a signal
// the error is reported as an interruption with the shell's status for it.
func (e *env) failInterrupted(ctx context.Context, err error) int {
	var in interrupted
	if ctx.Err() != nil && errors.As(context.Cause(ctx), &in) && fleetgate.ExitCode(err) != 2 {
		code := 128 + int(in.sig.(syscall.Signal))
		msg := fmt.Sprintf("interrupted by %s (see fleetgate status for what was applied)", signalName(in.sig))
		if !errors.Is(err, context.Canceled) {
			msg += ": " + err.Error()
		}
		e.failCode(errors.New(msg), code)
		return code
	}
	e.fail(err)
	return fleetgate.ExitCode(err)
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return s.String()
}
