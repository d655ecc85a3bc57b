package main

// The documentation's cross-references are checked here: every relative
// link in a Markdown file, and every citation of a document in a code
// comment, must name a file that exists and a heading it has
// (CONTRIBUTING.md, "Documentation").

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// TestDocLinks checks every relative link of every Markdown file in the
// repository: the file or folder it names exists, and a #fragment on a
// Markdown file is the anchor GitHub gives one of its headings.
func TestDocLinks(t *testing.T) {
	files := repoFiles(t, func(p string) bool { return strings.HasSuffix(p, ".md") })
	if len(files) < 5 {
		t.Fatalf("found only %d Markdown files: %q", len(files), files)
	}
	r := newDocReader(os.DirFS(".").(docFS))
	links := 0
	for _, file := range files {
		doc, err := r.read(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range markdownLinks(doc) {
			links++
			if err := r.checkLink(file, target); err != nil {
				t.Errorf("%s: link %q: %v", file, target, err)
			}
		}
	}
	t.Logf("%d links in %d Markdown files", links, len(files))
}

// TestCodeCitations checks every citation of a document in a comment of a
// Go file, a YAML file, a shell script or the Dockerfile: it must be written
// as the file's path from the repository's top, a comma and the heading in
// double quotes, in parentheses or not, and the file must have that
// heading. The front page named without its extension, and a path to a
// Markdown file that does not exist, fail too.
func TestCodeCitations(t *testing.T) {
	files := repoFiles(t, isCommentedSource)
	r := newDocReader(os.DirFS(".").(docFS))
	cited := 0
	for _, file := range files {
		comments, err := sourceComments(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range comments {
			n, errs := r.checkCitations(c)
			cited += n
			for _, err := range errs {
				t.Errorf("%s: %v", file, err)
			}
		}
	}
	if cited < 10 {
		t.Errorf("found only %d citations; is the scan broken?", cited)
	}
	t.Logf("%d citations in %d files", cited, len(files))
}

// TestREADMEIsAFrontPage keeps README.md short, and its "Where to go next"
// list complete: it links every page of docs/.
func TestREADMEIsAFrontPage(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	if n := strings.Count(readme, "\n"); n > maxREADMELines {
		t.Errorf("README.md has %d lines, more than %d: move reference text to a page of docs/", n, maxREADMELines)
	}
	_, next, ok := strings.Cut(readme, "\n## Where to go next\n")
	if !ok {
		t.Fatal(`README.md has no "Where to go next" section`)
	}
	if i := strings.Index(next, "\n## "); i >= 0 {
		next = next[:i]
	}
	linked := map[string]bool{}
	for _, target := range markdownLinks(next) {
		file, _, _ := strings.Cut(target, "#")
		linked[path.Clean(file)] = true
	}
	pages, err := filepath.Glob("docs/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/ (%v)", err)
	}
	for _, page := range pages {
		if !linked[filepath.ToSlash(page)] {
			t.Errorf(`README.md's "Where to go next" does not link %s`, page)
		}
	}
}

// maxREADMELines is the front page's budget (issue 14).
const maxREADMELines = 300

func TestCheckerCatchesMistakes(t *testing.T) {
	fsys := fstestFS{
		"README.md": "# Title\n\n## The verdicts\n\n## Scrape config\n\n```\n## Not a heading\n```\n\n## Twice\n\n## Twice\n" +
			"[a](docs/a.md#load-limits-http-hardening-and-debug) [b](#the-verdicts) `[c](nope.md)`\n",
		"docs/a.md": "# A page\n\n## Load limits, HTTP hardening and debug\n\n## Unprivileged TCP traceroute (Linux ≥ 5.8)\n\n## The probe's deadline\n",
		"docs/b.md": "# B\n",
	}
	r := newDocReader(fsys)
	for _, tc := range []struct {
		from, target string
		ok           bool
	}{
		{"README.md", "docs/a.md", true},
		{"README.md", "docs/a.md#load-limits-http-hardening-and-debug", true},
		{"README.md", "docs/a.md#unprivileged-tcp-traceroute-linux--58", true},
		{"README.md", "docs/a.md#the-probes-deadline", true},
		{"README.md", "#the-verdicts", true},
		{"README.md", "#twice-1", true},
		{"README.md", "docs/", true},
		{"docs/a.md", "../README.md#scrape-config", true},
		{"docs/a.md", "b.md", true},
		{"README.md", "https://example.com/x.md", true},
		{"README.md", "docs/c.md", false},                                      // no such file
		{"README.md", "docs/a.md#load-limits", false},                          // no such heading
		{"README.md", "#not-a-heading", false},                                 // a line in a code block is no heading
		{"README.md", "#twice-2", false},                                       // only two of them
		{"docs/a.md", "README.md", false},                                      // relative to docs/
		{"docs/a.md", "../README.md#the-verdict", false},                       // a typo
		{"README.md", "docs/a.md#Load-limits-http-hardening-and-debug", false}, // case matters
	} {
		err := r.checkLink(tc.from, tc.target)
		if (err == nil) != tc.ok {
			t.Errorf("checkLink(%q, %q) = %v, want ok %v", tc.from, tc.target, err, tc.ok)
		}
	}
	if got := markdownLinks(fsys["README.md"]); strings.Join(got, " ") != "docs/a.md#load-limits-http-hardening-and-debug #the-verdicts" {
		t.Errorf("markdownLinks = %q", got)
	}
	for _, tc := range []struct {
		comment string
		n       int
		ok      bool
	}{
		{`the limits (docs/a.md, "Load limits, HTTP hardening and debug") apply`, 1, true},
		{`see docs/a.md, "Unprivileged TCP traceroute (Linux ≥ 5.8)"; README.md, "Twice"`, 2, true},
		{`nothing cited here; README.md is the front page`, 0, true},
		{`(docs/a.md, "Load limits")`, 1, false},                           // not the whole heading
		{`(docs/a.md, "load limits, HTTP hardening and debug")`, 1, false}, // case matters
		{`(docs/c.md, "Load limits, HTTP hardening and debug")`, 1, false}, // no such file
		{`(README, "The verdicts")`, 0, false},                             // not the one form
		{`as README's scrape config says`, 0, false},                       // no file, no heading
		{`a.md, "Load limits, HTTP hardening and debug"`, 1, false},        // the path is from the top
		{`mixin/README.md explains it`, 0, false},                          // a path that does not exist
		{`(docs/a.md, "## Not a heading")`, 1, false},
	} {
		n, errs := r.checkCitations(tc.comment)
		if n != tc.n || (len(errs) == 0) != tc.ok {
			t.Errorf("checkCitations(%q) = %d, %v; want %d citations, ok %v", tc.comment, n, errs, tc.n, tc.ok)
		}
	}
}

// fstestFS is a file system of Markdown texts by path.
type fstestFS map[string]string

func (m fstestFS) ReadFile(name string) ([]byte, error) {
	if s, ok := m[name]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
}

func (m fstestFS) Stat(name string) (fs.FileInfo, error) {
	if _, ok := m[name]; ok {
		return nil, nil
	}
	for p := range m {
		if strings.HasPrefix(p, name+"/") {
			return nil, nil
		}
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// docFS is what the checker needs of a file system (os.DirFS has both), so
// that the checker's own test can give it a map.
type docFS interface {
	ReadFile(name string) ([]byte, error)
	Stat(name string) (fs.FileInfo, error)
}

// docReader reads Markdown files and their headings, once each.
type docReader struct {
	fsys     docFS
	headings map[string][]string // path -> heading texts, in order
}

func newDocReader(fsys docFS) *docReader {
	return &docReader{fsys: fsys, headings: map[string][]string{}}
}

func (r *docReader) read(p string) (string, error) {
	data, err := r.fsys.ReadFile(p)
	return string(data), err
}

func (r *docReader) exists(p string) bool {
	_, err := r.fsys.Stat(p)
	return err == nil
}

// headingsOf returns the texts of a Markdown file's ATX headings, outside
// fenced code blocks.
func (r *docReader) headingsOf(p string) ([]string, error) {
	if h, ok := r.headings[p]; ok {
		return h, nil
	}
	doc, err := r.read(p)
	if err != nil {
		return nil, err
	}
	var h []string
	for _, line := range strings.Split(withoutFences(doc), "\n") {
		if m := headingLine.FindStringSubmatch(line); m != nil {
			h = append(h, strings.TrimSpace(strings.TrimRight(m[1], "# ")))
		}
	}
	r.headings[p] = h
	return h, nil
}

var headingLine = regexp.MustCompile(`^ {0,3}#{1,6}[ \t]+(.*)$`)

// anchors returns the fragments GitHub gives a file's headings.
func (r *docReader) anchors(p string) (map[string]bool, error) {
	h, err := r.headingsOf(p)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	anchors := map[string]bool{}
	for _, text := range h {
		slug := githubSlug(text)
		if n := seen[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors, nil
}

// githubSlug is the anchor GitHub derives from a heading: the rendered text
// in lower case, without punctuation or symbols, spaces turned to hyphens.
func githubSlug(heading string) string {
	heading = mdLink.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, c := range strings.ToLower(heading) {
		switch {
		case c == ' ':
			b.WriteRune('-')
		case c == '-' || c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c) || unicode.IsMark(c):
			b.WriteRune(c)
		}
	}
	return b.String()
}

var mdLink = regexp.MustCompile(`!?\[([^\]]*)\]\(([^)\s]*)(?:\s+"[^"]*")?\)`)

// markdownLinks returns the targets of the inline links and images of a
// Markdown text, outside code blocks and code spans.
func markdownLinks(doc string) []string {
	doc = codeSpan.ReplaceAllString(withoutFences(doc), "")
	var targets []string
	for _, m := range mdLink.FindAllStringSubmatch(doc, -1) {
		if m[2] != "" {
			targets = append(targets, m[2])
		}
	}
	return targets
}

var codeSpan = regexp.MustCompile("`[^`\n]*`")

// withoutFences blanks the lines of fenced code blocks.
func withoutFences(doc string) string {
	lines := strings.Split(doc, "\n")
	fence := ""
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			fence = trimmed[:3]
			lines[i] = ""
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// checkLink checks a link target found in the Markdown file from.
func (r *docReader) checkLink(from, target string) error {
	if u, err := url.Parse(target); err == nil && (u.Scheme != "" || u.Host != "") {
		return nil // not a file of this repository
	}
	file, fragment, _ := strings.Cut(target, "#")
	file, err := url.PathUnescape(file)
	if err != nil {
		return err
	}
	resolved := from
	if file != "" {
		resolved = path.Join(path.Dir(from), file)
		if strings.HasPrefix(resolved, "../") || resolved == ".." {
			return errors.New("points outside the repository")
		}
		if !r.exists(resolved) {
			return fmt.Errorf("%s does not exist", resolved)
		}
	}
	if fragment == "" || !strings.HasSuffix(resolved, ".md") {
		return nil
	}
	anchors, err := r.anchors(resolved)
	if err != nil {
		return err
	}
	if !anchors[fragment] {
		return fmt.Errorf("%s has no heading with the anchor #%s", resolved, fragment)
	}
	return nil
}

var (
	// citation is the one form: the path, a comma, the heading in quotes.
	citation = regexp.MustCompile(`([A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md),\s+"([^"]+)"`)
	// mdPath is any mention of a Markdown file.
	mdPath = regexp.MustCompile(`[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b`)
	// bareREADME finds the front page named without its extension: a
	// citation the test cannot follow.
	bareREADME = regexp.MustCompile(`\bREADME(\.md)?`)
)

// checkCitations checks the citations in one comment's text, and returns
// how many it found.
func (r *docReader) checkCitations(comment string) (int, []error) {
	comment = strings.Join(strings.Fields(comment), " ") // a citation may wrap
	var errs []error
	for _, m := range bareREADME.FindAllStringSubmatch(comment, -1) {
		if m[1] == "" {
			errs = append(errs, fmt.Errorf(`"README" without a path in %q: cite (README.md, "Heading") or a page of docs/`, comment))
		}
	}
	for _, m := range mdPath.FindAllString(comment, -1) {
		if strings.HasPrefix(m, "//") {
			continue // a URL's path
		}
		if !r.exists(m) {
			errs = append(errs, fmt.Errorf("%s does not exist (paths start at the repository's top), in %q", m, comment))
		}
	}
	found := citation.FindAllStringSubmatch(comment, -1)
	for _, m := range found {
		file, heading := m[1], m[2]
		if strings.HasPrefix(file, "//") || !r.exists(file) {
			continue // a URL, or reported above
		}
		h, err := r.headingsOf(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ok := false
		for _, text := range h {
			ok = ok || text == heading
		}
		if !ok {
			errs = append(errs, fmt.Errorf("%s has no heading %q", file, heading))
		}
	}
	return len(found), errs
}

// repoFiles lists the repository's files that keep says, skipping version
// control, vendored code, node_modules and test data.
func repoFiles(t *testing.T, keep func(string) bool) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "vendor", "node_modules", "testdata", ".build":
				return filepath.SkipDir
			}
			return nil
		}
		if keep(filepath.ToSlash(p)) {
			files = append(files, filepath.ToSlash(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func isCommentedSource(p string) bool {
	switch path.Ext(p) {
	case ".go", ".yml", ".yaml", ".sh":
		return true
	}
	return path.Base(p) == "Dockerfile" || p == ".ci/run"
}

// sourceComments returns a file's comments: a Go file's comment groups, or
// the runs of '#' comment lines of a YAML file or script.
func sourceComments(p string) ([]string, error) {
	if strings.HasSuffix(p, ".go") {
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, g := range f.Comments {
			out = append(out, g.Text())
		}
		return out, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var out []string
	var run []string
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if _, after, ok := strings.Cut(trimmed, "# "); ok && (strings.HasPrefix(trimmed, "#") || strings.Contains(line, " # ")) {
			run = append(run, after)
			if !strings.HasPrefix(trimmed, "#") { // a comment after a value ends its run
				out, run = append(out, strings.Join(run, " ")), nil
			}
			continue
		}
		if len(run) > 0 {
			out, run = append(out, strings.Join(run, " ")), nil
		}
	}
	if len(run) > 0 {
		out = append(out, strings.Join(run, " "))
	}
	return out, nil
}
