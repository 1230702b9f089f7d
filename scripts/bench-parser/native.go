//go:build ignore

package main

import "github.com/pganalyze/pg_query_go/v6/parser"

func parseToJSON(sql string) (string, error) { return parser.ParseToJSON(sql) }
