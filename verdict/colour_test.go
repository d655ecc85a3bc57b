package verdict

import (
	"regexp"
	"testing"
)

// Every class has a colour, every colour a class, and no two classes share one.
func TestEveryClassHasItsOwnColour(t *testing.T) {
	if len(classColours) != len(Classes) {
		t.Errorf("%d colours for %d classes", len(classColours), len(Classes))
	}
	hex := regexp.MustCompile(`^#[0-9a-f]{6}$`)
	seen := map[Colour]Class{}
	for _, c := range Classes {
		col := c.Class.Colour()
		if col.Grafana == "" || !hex.MatchString(col.Hex) {
			t.Errorf("class %s: colour %+v lacks a Grafana name or a #rrggbb value", c.Class, col)
		}
		if other, dup := seen[col]; dup {
			t.Errorf("classes %s and %s share colour %+v", other, c.Class, col)
		}
		seen[col] = c.Class
	}
	if (Class("nope").Colour() != Colour{}) {
		t.Error("an unknown class has a colour")
	}
}
