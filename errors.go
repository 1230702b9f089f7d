package fleetgate

import (
	"errors"
	"fmt"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/lock"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

var (
	// ErrLockLost: this runner's lease was taken over (it paused or lost
	// its session past the lease). Nothing it did after that was committed.
	ErrLockLost = driver.ErrLockLost
	// ErrTimeout: the wait for the lock or for the schema reached its
	// deadline.
	ErrTimeout = lock.ErrTimeout
	// ErrDatabaseAhead: the database has migrations newer than this build
	// and the IfAhead policy says to fail.
	ErrDatabaseAhead = errors.New("database is ahead of this build")
)

// ConfigError is a usage or configuration mistake: a bad URL, table name,
// directory or option. Nothing was changed in the database.
type ConfigError struct {
	Setting string // the flag or setting at fault, e.g. "--database"
	Msg     string
}

func (e *ConfigError) Error() string { return e.Setting + ": " + e.Msg }

func configErr(setting, format string, args ...any) error {
	return &ConfigError{Setting: setting, Msg: fmt.Sprintf(format, args...)}
}

// SourceError is a malformed migration file; it names the file and line.
type SourceError = source.Error

// MigrationError is a migration that failed: it names the file, the line of
// the failing statement and the database error. Its transaction (if any)
// was rolled back.
type MigrationError = executor.StepError

// ValidationError lists applied migrations that were edited or are missing,
// and pending ones older than applied ones.
type ValidationError = plan.ValidationError

// ExitCode maps an error to the exit status documented in SPEC.md.
func ExitCode(err error) int {
	var (
		ke *CheckError
		ce *ConfigError
		se *SourceError
		ve *ValidationError
		me *MigrationError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce), errors.As(err, &se):
		return 2
	case errors.Is(err, ErrTimeout):
		return 3
	case errors.As(err, &ve), errors.Is(err, ErrDatabaseAhead):
		return 4
	case errors.As(err, &ke):
		return 5
	case errors.As(err, &me), errors.Is(err, ErrLockLost):
		return 1
	}
	return 1
}
