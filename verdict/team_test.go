package verdict

import (
	"regexp"
	"testing"
)

// Every class somebody has to fix names a team, as a slug that is safe as a
// label value and in a URL path; connected names none.
func TestTeamSlugs(t *testing.T) {
	slug := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	for _, c := range Classes {
		switch {
		case c.Class == Connected && c.Team != "":
			t.Errorf("%s: team %q, want none (nobody has to fix it)", c.Class, c.Team)
		case c.Class != Connected && !slug.MatchString(c.Team):
			t.Errorf("%s: team %q is not a lower-case slug", c.Class, c.Team)
		}
	}
}
