package limits

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// The limits are passed in, never set through package globals: no file of
// this package declares a package-level variable, but for error sentinels
// (var ErrX = errors.New(...)) and compile-time interface checks (var _ I).
// A limit kept in a package variable would be shared by every Set, and set
// by whoever ran last.
func TestNoPackageState(t *testing.T) {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files++
		for _, bad := range packageVars(f) {
			t.Errorf("%s: package-level variable %s: the limits hold no package state", fset.Position(bad.Pos()), bad.Name)
		}
	}
	if files == 0 {
		t.Fatal("no source file found: the scan would pass on nothing")
	}
}

// packageVars lists the package-level variables of f that are neither
// error sentinels nor blank.
func packageVars(f *ast.File) []*ast.Ident {
	var bad []*ast.Ident
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if name.Name == "_" {
					continue
				}
				if strings.HasPrefix(name.Name, "Err") && i < len(vs.Values) && isErrorsNew(vs.Values[i]) {
					continue
				}
				bad = append(bad, name)
			}
		}
	}
	return bad
}

func isErrorsNew(e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && (pkg.Name == "errors" && sel.Sel.Name == "New" || pkg.Name == "fmt" && sel.Sel.Name == "Errorf")
}

// The scan itself catches what it must: a counter, a limit, a var block.
func TestPackageVarsScan(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want int
	}{
		{"var maxDraining int64 = 256", 1},
		{"var (\n\tclosing sync.WaitGroup\n\tdraining atomic.Int64\n)", 2},
		{"var ErrFull = errors.New(\"full\")", 0},
		{"var ErrFull = newErr()", 1}, // not a sentinel's shape
		{"var _ interface{ InUse() int } = (*Budget)(nil)", 0},
		{"const DefaultMaxDraining = 256", 0},
		{"func f() { var x int; _ = x }", 0},
	} {
		f, err := parser.ParseFile(token.NewFileSet(), "x.go", "package limits\n"+tc.src+"\n", 0)
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		if got := len(packageVars(f)); got != tc.want {
			t.Errorf("%q: %d package variables found, want %d", tc.src, got, tc.want)
		}
	}
}
