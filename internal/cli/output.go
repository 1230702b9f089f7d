package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fleetgate/fleetgate"
)

// scrubWriter removes secrets from everything written through it: the last
// line of defence, behind redacted URLs, for a driver message that echoes a
// DSN. Writers here always write whole lines.
type scrubWriter struct {
	mu    sync.Mutex
	w     io.Writer
	scrub func(string) string
}

func newScrubWriter(w io.Writer, secrets []string) *scrubWriter {
	s := &scrubWriter{w: w}
	s.setSecrets(secrets)
	return s
}

func (s *scrubWriter) setSecrets(secrets []string) {
	scrub := fleetgate.SecretScrubber(secrets)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scrub = scrub
}

func (s *scrubWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []byte(s.scrub(string(p)))
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// textHandler prints log records for people: time, message, attributes.
type textHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	attrs []slog.Attr
	level slog.Level
}

func newTextHandler(w io.Writer, level slog.Level) *textHandler {
	return &textHandler{mu: &sync.Mutex{}, w: w, level: level}
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	b.WriteString(r.Time.Format("15:04:05.000"))
	b.WriteString(" ")
	if r.Level >= slog.LevelWarn {
		b.WriteString(strings.ToLower(r.Level.String()))
		b.WriteString(": ")
	}
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindTime {
			fmt.Fprintf(&b, " %s=%s", a.Key, v.Time().Format(time.RFC3339))
			return true
		}
		s := v.String()
		if strings.ContainsAny(s, " \t\"") {
			s = fmt.Sprintf("%q", s)
		}
		fmt.Fprintf(&b, " %s=%s", a.Key, s)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(oneLine(b.Bytes()))
	return err
}

func (h *textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &n
}

func (h *textHandler) WithGroup(string) slog.Handler { return h }

// oneLine keeps a record on one line: a multi-line database message would
// otherwise break line-oriented log collectors.
func oneLine(b []byte) []byte {
	body := bytes.TrimRight(b, "\n")
	body = bytes.ReplaceAll(body, []byte("\n"), []byte(" "))
	return append(body, '\n')
}
