// Package source turns a directory of migration files into parsed,
// checksummed migrations with their statements already split.
//
// Everything here is pure and runs before any database is touched, so that a
// malformed file (a typo in a file name, an unknown directive, binary junk, an
// unterminated string) stops a deploy before the first statement is sent,
// rather than halfway through a migration. Errors therefore name the file and
// line an operator has to open. LoadVerified, which `up` uses, leaves
// unparsed a file that is exactly what the history says was applied; its
// comment says why that keeps this promise.
//
// Files are read through fs.FS so that migrations can come from os.DirFS, an
// embed.FS compiled into the application, or fstest.MapFS in tests. A
// consequence is that a symlink pointing outside the directory cannot be
// detected here: fs.FS hides whether a path is a link. Callers that read from
// the real file system and care about that must check it themselves.
//
// The statement splitter understands the lexical rules of PostgreSQL and
// SQLite (quotes, E'...' strings, dollar quoting, nested block comments, trigger
// bodies), and, when the caller names dialect.MySQL (LoadDialect,
// ParseDialect, SplitDialect), those of MySQL and MariaDB: backslash escapes,
// backticks, # comments, /*! ... */ conditional code, compound statement
// bodies and DELIMITER blocks (mysql.go). The dialect is never guessed from
// the text, since the same file splits differently under each. It is deliberately not a parser: it only has to find the
// semicolons that end statements, and it must do so in linear time on any
// input, because it runs on every file at every start of every instance.
package source
