package verdict

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's verdict table from the taxonomy")

const (
	tableBegin = "<!-- verdict-table:begin (generated from verdict/taxonomy.go: go test ./verdict -update) -->\n"
	tableEnd   = "<!-- verdict-table:end -->"
)

// README's verdict table must be the taxonomy's, word for word.
func TestREADMETableIsCurrent(t *testing.T) {
	const path = "../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	i, j := strings.Index(readme, tableBegin), strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the verdict table markers %q ... %q", tableBegin, tableEnd)
	}
	current := readme[i+len(tableBegin) : j]
	want := MarkdownTable()
	if current == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme[:i+len(tableBegin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("README.md's verdict table differs from verdict/taxonomy.go; run: go test ./verdict -update")
}
