package verdict

import (
	"fmt"
	"strings"
)

// MarkdownTable renders the taxonomy as the table README.md shows, so the
// documentation is generated from this one place, never re-typed.
func MarkdownTable() string {
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
				c.Class, c.Telnet, r.Reason, esc(r.Evidence), esc(r.Meaning), c.Owner, team, esc(r.Ambiguity))
		}
	}
	return b.String()
}

func esc(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// MarkdownCauses renders the session failure causes as the table README.md
// shows (its "TLS modules" section).
func MarkdownCauses() string {
	var b strings.Builder
	b.WriteString("| `phase` | `cause` | what the probe saw | most likely | whom to ask | alert `team` |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, c := range Causes {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s | `%s` |\n", c.Phase, c.Cause, esc(c.Evidence), esc(c.Meaning), esc(c.Ask), c.Team)
	}
	return b.String()
}
