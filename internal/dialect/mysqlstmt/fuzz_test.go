package mysqlstmt

import (
	"strings"
	"testing"
)

// Parse never panics, and whatever it returns is consistent: a statement
// of a table kind names its table, an ALTER TABLE clause that changes a
// column carries its definition, and an error has its position inside
// the text. The seeds are the edge statements; `go test -fuzz FuzzParse`
// explores further.
func FuzzParse(f *testing.F) {
	for _, s := range edge {
		f.Add(s)
	}
	for _, s := range specs {
		f.Add("ALTER TABLE t " + s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		st, err := Parse(sql)
		FirstWords(sql, 3)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Off < 0 || e.Off > len(sql) || !strings.HasPrefix(sql[e.Off:], e.Near) {
				t.Fatalf("%q: bad error %#v", sql, err)
			}
		}
		if st == nil {
			if err == nil {
				t.Fatalf("%q: no statement and no error", sql)
			}
			return
		}
		switch st.Kind {
		case CreateTable, AlterTable, CreateView:
			if len(st.Tables) != 1 {
				t.Fatalf("%q: kind %d with tables %v", sql, st.Kind, st.Tables)
			}
		}
		for _, sp := range st.Specs {
			switch sp.Kind {
			case SpecModifyColumn, SpecChangeColumn, SpecAddColumns:
				if len(sp.Columns) == 0 {
					t.Fatalf("%q: clause %d without columns", sql, sp.Kind)
				}
			}
		}
	})
}
