package fleetgate

import "github.com/fleetgate/fleetgate/internal/source"

// Format is the format of a migration directory. fleetgate reads the files
// of golang-migrate, goose and dbmate unchanged, with those tools'
// transaction semantics made safe (docs/compat.md), so that a team can
// switch without rewriting hundreds of migrations.
type Format = source.Format

const (
	// FormatAuto detects the format from the files: goose and dbmate by
	// their markers, golang-migrate by its .up.sql/.down.sql names,
	// fleetgate otherwise. A directory mixing formats is an error naming
	// the odd file (fleetgate files and golang-migrate files may mix).
	FormatAuto = source.FormatAuto
	// FormatFleetgate: -- fleetgate:up / -- fleetgate:down sections; also
	// reads the golang-migrate layout.
	FormatFleetgate = source.FormatFleetgate
	// FormatGolangMigrate: <version>_<name>.up.sql and .down.sql files.
	FormatGolangMigrate = source.FormatGolangMigrate
	// FormatGoose: -- +goose Up / Down, NO TRANSACTION, StatementBegin/End.
	FormatGoose = source.FormatGoose
	// FormatDbmate: -- migrate:up / -- migrate:down, transaction:false.
	FormatDbmate = source.FormatDbmate
)

// ParseFormat parses a --format value: fleetgate, golang-migrate, goose,
// dbmate, or auto (or "") to detect it.
func ParseFormat(s string) (Format, error) {
	f, err := source.ParseFormat(s)
	if err != nil {
		return "", configErr("Config.Format", "%v", err)
	}
	return f, nil
}
