package fleetgate

import (
	"context"
	"time"

	"github.com/fleetgate/fleetgate/internal/history"
)

// Event is one entry of the audit log (the events table). Its JSON form is
// the documented, stable schema of `fleetgate history --json`
// (docs/history.schema.json).
type Event struct {
	ID               int64     `json:"id"`
	At               time.Time `json:"at"`
	Kind             string    `json:"kind"`
	Version          int64     `json:"version,omitempty"`
	Name             string    `json:"name,omitempty"`
	Direction        string    `json:"direction,omitempty"`
	Error            string    `json:"error,omitempty"`
	Statement        string    `json:"statement,omitempty"`
	StatementLine    int       `json:"statement_line,omitempty"`
	File             string    `json:"file,omitempty"`
	DurationMS       int64     `json:"duration_ms"`
	LockWaitMS       int64     `json:"lock_wait_ms"`
	DBUser           string    `json:"db_user,omitempty"`
	OSUser           string    `json:"os_user,omitempty"`
	Host             string    `json:"host,omitempty"`
	PID              int       `json:"pid,omitempty"`
	DeployID         string    `json:"deploy_id,omitempty"`
	FleetgateVersion string    `json:"fleetgate_version,omitempty"`
	LockGeneration   int64     `json:"lock_generation,omitempty"`
}

// HistoryOpts filter History. A nil *HistoryOpts returns every event.
type HistoryOpts struct {
	// Version keeps only events of this version. Defaults to all.
	Version int64
	// Since keeps only events at or after this time. Defaults to all.
	Since time.Time
	// Limit caps the number of events. Defaults to no limit.
	Limit int
}

// History returns the audit log, newest first. It only reads.
func (m *Migrator) History(ctx context.Context, opts *HistoryOpts) ([]Event, error) {
	if opts == nil {
		opts = &HistoryOpts{}
	}
	if ok, err := m.d.TablesExist(ctx, m.db); err != nil || !ok {
		return []Event{}, err
	}
	evs, err := m.d.ReadEvents(ctx, m.db, opts.Version, opts.Since, opts.Limit)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = eventOf(e)
	}
	return out, nil
}

func eventOf(e history.Event) Event {
	return Event{ID: e.ID, At: e.At, Kind: e.Kind, Version: e.Version, Name: e.Name, Direction: e.Direction,
		Error: e.Error, Statement: e.Statement, StatementLine: e.StatementLine, File: e.File,
		DurationMS: e.DurationMS, LockWaitMS: e.LockWaitMS, DBUser: e.DBUser, OSUser: e.Actor.OSUser,
		Host: e.Actor.Host, PID: e.Actor.PID, DeployID: e.Actor.DeployID,
		FleetgateVersion: e.Actor.ToolVersion, LockGeneration: e.LockGeneration}
}
