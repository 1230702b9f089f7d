package fleetgate

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/executor"
)

// progressEvery is how often a long statement is reported while it runs.
const progressEvery = 3 * time.Second

// logProgress reports a running statement at info level: its elapsed
// time, whom it waits for if it waits for a lock, and an index build's
// phase and blocks done out of total. The text handler prints one line;
// the JSON handler the same as fields of one event.
func (m *Migrator) logProgress(ctx context.Context, p executor.Progress) {
	attrs := []any{slog.Int64("version", p.Migration.Version), slog.String("file", p.Migration.File),
		slog.Int("line", p.Statement.Line), slog.Duration("elapsed", p.Elapsed.Round(time.Second))}
	if ix := p.Index; ix != nil {
		attrs = append(attrs, slog.String("phase", ix.Phase))
		if ix.BlocksTotal > 0 {
			attrs = append(attrs, slog.Int64("blocks_done", ix.BlocksDone), slog.Int64("blocks_total", ix.BlocksTotal),
				slog.String("percent", percent(ix.BlocksDone, ix.BlocksTotal)))
		}
		if ix.TuplesTotal > 0 {
			attrs = append(attrs, slog.Int64("tuples_done", ix.TuplesDone), slog.Int64("tuples_total", ix.TuplesTotal))
		}
		if ix.LockersTotal > 0 {
			attrs = append(attrs, slog.Int64("lockers_done", ix.LockersDone), slog.Int64("lockers_total", ix.LockersTotal))
		}
	}
	if len(p.WaitingFor) > 0 {
		attrs = append(attrs, slog.String("waiting_for", driver.Blockers(p.WaitingFor)))
	}
	m.log.InfoContext(ctx, "running", attrs...)
}

func percent(done, total int64) string {
	return strconv.FormatFloat(float64(done)*100/float64(total), 'f', 1, 64) + "%"
}
