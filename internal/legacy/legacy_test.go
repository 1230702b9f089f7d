package legacy

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDbmateVersionKeepsLeadingZeros(t *testing.T) {
	for file, want := range map[string]string{
		"db/migrations/001_init.sql":      "001",
		"20240218233822_notes.sql":        "20240218233822",
		"stored down script of 7_x":       "7", // no file: the number is all there is
		"0042_x.sql":                      "0042",
		"migrations/12abc_not_digits.sql": "7",
	} {
		require.Equal(t, want, dbmateVersion(file, 7), file)
	}
}
