package driver

import (
	"context"
	"fmt"

	"github.com/fleetgate/fleetgate/internal/history"
)

// ReadHistory returns the history rows, none when the tables do not exist:
// it never creates them, so read-only credentials and a database fleetgate
// never touched both read as "nothing applied".
func ReadHistory(ctx context.Context, d Driver, q Querier, full bool) ([]history.Applied, error) {
	rows, err := d.ReadApplied(ctx, q, full)
	if err == nil {
		return rows, nil
	}
	ok, terr := d.TablesExist(ctx, q)
	if terr != nil {
		return nil, fmt.Errorf("connect: %w", terr)
	}
	if !ok {
		return nil, nil
	}
	// Another runner created the tables between our two reads.
	return d.ReadApplied(ctx, q, full)
}
