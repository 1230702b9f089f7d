package deploy

import (
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/deploy.md's included blocks from the recipe files")

const docPath = "../docs/deploy.md"

// include is a marker line in docs/deploy.md; the fenced block right after
// it must be the named file, verbatim.
var include = regexp.MustCompile("(?m)^<!-- include (\\S+) -->\n```[a-z]*\n")

// fenceLang is the fence's language for a file.
func fenceLang(path string) string {
	switch {
	case strings.HasSuffix(path, ".yaml"), strings.HasSuffix(path, ".yml"), strings.HasSuffix(path, ".config"):
		return "yaml"
	case strings.HasSuffix(path, ".json"):
		return "json"
	case strings.HasSuffix(path, ".sh"):
		return "sh"
	case strings.HasSuffix(path, ".service"):
		return "ini"
	case strings.HasSuffix(path, ".sql"):
		return "sql"
	}
	return ""
}

// syncDoc returns doc with every included block replaced by its file, and
// what differed: blocks that are not their file, files not included.
func syncDoc(doc string, all map[string]snippet) (string, []string) {
	var out strings.Builder
	var seen, problems []string
	rest := doc
	for {
		loc := include.FindStringSubmatchIndex(rest)
		if loc == nil {
			out.WriteString(rest)
			break
		}
		name := rest[loc[2]:loc[3]]
		rel := strings.TrimPrefix(name, "deploy/")
		s, ok := all[rel]
		if !ok {
			problems = append(problems, name+" is not a recipe file")
		}
		seen = append(seen, rel)
		end := strings.Index(rest[loc[1]:], "```\n")
		if end < 0 {
			problems = append(problems, "the block of "+name+" is not closed")
			out.WriteString(rest)
			break
		}
		if ok && rest[loc[1]:loc[1]+end] != string(s.data) {
			problems = append(problems, "the block of "+name+" differs from the file")
		}
		out.WriteString(rest[:loc[0]])
		out.WriteString("<!-- include " + name + " -->\n```" + fenceLang(rel) + "\n" + string(s.data) + "```\n")
		rest = rest[loc[1]+end+len("```\n"):]
	}
	for p := range all {
		if !slices.Contains(seen, p) {
			problems = append(problems, "deploy/"+p+" is not included")
		}
	}
	return out.String(), problems
}

// TestDocQuotesRecipes: every recipe file appears in docs/deploy.md, and
// every included block is the file as it is (go test -run
// TestDocQuotesRecipes -update rewrites the blocks).
func TestDocQuotesRecipes(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	all := recipes(t)
	out, problems := syncDoc(string(b), all)
	if *update {
		if err := os.WriteFile(docPath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, p := range problems {
		t.Errorf("docs/deploy.md: %s (go test -run TestDocQuotesRecipes -update)", p)
	}

	// A doc whose quote drifted from its file, or that leaves a file out,
	// is caught.
	drifted := strings.Replace(string(b), "  activeDeadlineSeconds: 1200\n", "  activeDeadlineSeconds: 600\n", 1)
	if _, p := syncDoc(drifted, all); len(p) == 0 {
		t.Error("a drifted quote passed")
	}
	dropped := strings.Replace(string(b), "<!-- include deploy/systemd/api.service -->", "", 1)
	if _, p := syncDoc(dropped, all); len(p) == 0 {
		t.Error("a missing include passed")
	}
}
