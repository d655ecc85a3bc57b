package verdict

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's verdict and cause tables from the taxonomy")

const (
	tableBegin = "<!-- verdict-table:begin (generated from verdict/taxonomy.go: go test ./verdict -update) -->\n"
	tableEnd   = "<!-- verdict-table:end -->"
	causeBegin = "<!-- cause-table:begin (generated from verdict/failure.go: go test ./verdict -update) -->\n"
	causeEnd   = "<!-- cause-table:end -->"
)

// README's verdict table must be the taxonomy's, word for word.
func TestREADMETableIsCurrent(t *testing.T) {
	readmeSection(t, tableBegin, tableEnd, MarkdownTable())
}

// README's table of session failure causes must be verdict.Causes.
func TestREADMECauseTableIsCurrent(t *testing.T) {
	readmeSection(t, causeBegin, causeEnd, MarkdownCauses())
}

func readmeSection(t *testing.T, tableBegin, tableEnd, want string) {
	t.Helper()
	const path = "../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	i, j := strings.Index(readme, tableBegin), strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the table markers %q ... %q", tableBegin, tableEnd)
	}
	current := readme[i+len(tableBegin) : j]
	if current == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme[:i+len(tableBegin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("README.md's table after %q differs from package verdict; run: go test ./verdict -update", tableBegin)
}
