//go:build ignore

package main

import "github.com/wasilibs/go-pgquery/parser"

func parseToJSON(sql string) (string, error) { return parser.ParseToJSON(sql) }
