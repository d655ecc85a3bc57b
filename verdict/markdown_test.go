package verdict

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The documentation's tables of the taxonomy are generated here, in a test,
// so that they are never re-typed and the production package carries no
// Markdown. Run `go test ./verdict -update` after changing the taxonomy.

var update = flag.Bool("update", false, "rewrite README.md's verdict table and docs/verdicts.md's cause table from the taxonomy")

const (
	tableBegin = "<!-- verdict-table:begin (generated from verdict/taxonomy.go: go test ./verdict -update) -->\n"
	tableEnd   = "<!-- verdict-table:end -->"
	causeBegin = "<!-- cause-table:begin (generated from verdict/failure.go: go test ./verdict -update) -->\n"
	causeEnd   = "<!-- cause-table:end -->"
)

// README.md's verdict table must be the taxonomy's, word for word.
func TestREADMETableIsCurrent(t *testing.T) {
	generatedSection(t, "../README.md", tableBegin, tableEnd, markdownTable())
}

// docs/verdicts.md's table of session failure causes must be verdict.Causes.
func TestCauseTableIsCurrent(t *testing.T) {
	generatedSection(t, "../docs/verdicts.md", causeBegin, causeEnd, markdownCauses())
}

// markdownTable renders the taxonomy as the table README.md shows.
func markdownTable() string {
	var b strings.Builder
	b.WriteString("| class | telnet says | reason | kernel evidence | most likely | who fixes it | alert `team` | can also mean |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, c := range Classes {
		for _, r := range Reasons {
			if r.Class != c.Class {
				continue
			}
			team := ""
			if c.Team != "" {
				team = "`" + c.Team + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s | %s | %s | %s | %s |\n",
				c.Class, r.TelnetWords(), r.Reason, escapeCell(r.Evidence), escapeCell(r.Meaning), c.Owner, team, escapeCell(r.Ambiguity))
		}
	}
	return b.String()
}

// markdownCauses renders the session failure causes as the table of
// docs/verdicts.md's "TLS modules" section.
func markdownCauses() string {
	var b strings.Builder
	b.WriteString("| `phase` | `cause` | what the probe saw | most likely | whom to ask | alert `team` |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, c := range Causes {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s | `%s` |\n", c.Phase, c.Cause, escapeCell(c.Evidence), escapeCell(c.Meaning), escapeCell(c.Ask), c.Team)
	}
	return b.String()
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// generatedSection checks (or with -update rewrites) the text between begin
// and end in the file at path.
func generatedSection(t *testing.T, path, begin, end, want string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the table markers %q ... %q", path, begin, end)
	}
	if doc[i+len(begin):j] == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s's table after %q differs from package verdict; run: go test ./verdict -update", path, begin)
}
