//go:build linux

package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
)

// root is the repository, two folders up.
var root = func() string {
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return r
}()

// arches are the architectures scripts/release.sh builds by default, with
// the ELF machine of each and the names the packages give them.
var arches = []struct {
	goarch, deb, rpm string
	machine          elf.Machine
}{
	{"amd64", "amd64", "x86_64", elf.EM_X86_64},
	{"arm64", "arm64", "aarch64", elf.EM_AARCH64},
}

// dist is one run of scripts/release.sh, shared by the tests of this
// package (it builds six artefacts; once is enough).
var dist struct {
	once              sync.Once
	dir, log          string
	version, revision string
	took              time.Duration
	err               error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dist.dir != "" {
		_ = os.RemoveAll(dist.dir) // a temporary folder; nothing else to tell
	}
	os.Exit(code)
}

// release runs scripts/release.sh into a temporary dist folder and returns
// it with the version and the revision it should have stamped.
func release(t *testing.T) (dir, version, revision string) {
	t.Helper()
	testenv.NeedTools(t, "go", "git", "nfpm", "tar", "gzip", "sha256sum")
	dist.once.Do(func() {
		out, err := exec.Command(filepath.Join(root, "scripts", "build.sh"), "--print-version").Output()
		if err != nil {
			dist.err = fmt.Errorf("scripts/build.sh --print-version: %w", err)
			return
		}
		dist.version = strings.TrimSpace(string(out))
		out, err = exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
		if err != nil {
			dist.err = fmt.Errorf("git rev-parse HEAD: %w", err)
			return
		}
		dist.revision = strings.TrimSpace(string(out))
		if dist.dir, dist.err = os.MkdirTemp("", "tve-dist-"); dist.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "release.sh"), dist.dir)
		cmd.Dir = root
		logs, err := cmd.CombinedOutput()
		dist.took, dist.log = time.Since(start), string(logs)
		if err != nil {
			dist.err = fmt.Errorf("scripts/release.sh: %w\n%s", err, logs)
		}
	})
	if dist.err != nil {
		t.Fatal(dist.err)
	}
	return dist.dir, dist.version, dist.revision
}

// archiveName is promu's name of a release archive.
func archiveName(version, goarch string) string {
	return fmt.Sprintf("tcp_verdict_exporter-%s.linux-%s", version, goarch)
}

// The release is what docs/install.md promises: for each architecture a
// promu-style archive holding the binary (static, of that architecture),
// README.md, the install page, the example config, the alert rules and
// the dashboards; a .deb and an .rpm; and sha256sums.txt naming every
// artefact with its right digest.
func TestReleaseArchives(t *testing.T) {
	dir, version, revision := release(t)
	t.Logf("scripts/release.sh built %s in %v", version, dist.took.Round(100*time.Millisecond))

	var want []string
	for _, a := range arches {
		want = append(want, archiveName(version, a.goarch)+".tar.gz",
			fmt.Sprintf("tcp-verdict-exporter_%s-1_%s.deb", version, a.deb),
			fmt.Sprintf("tcp-verdict-exporter-%s-1.%s.rpm", version, a.rpm))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Name() != "sha256sums.txt" {
			got = append(got, e.Name())
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("dist/ holds %v, want %v and sha256sums.txt", got, want)
	}
	checkSums(t, dir, want)

	for _, a := range arches {
		t.Run(a.goarch, func(t *testing.T) {
			base := archiveName(version, a.goarch)
			files := readArchive(t, filepath.Join(dir, base+".tar.gz"))
			var names []string
			for name, f := range files {
				if !strings.HasPrefix(name, base+"/") {
					t.Errorf("%s is outside the archive's folder %s/", name, base)
				}
				if f.uid != 0 || f.gid != 0 {
					t.Errorf("%s is owned by %d:%d, want 0:0", name, f.uid, f.gid)
				}
				names = append(names, strings.TrimPrefix(name, base+"/"))
			}
			for _, n := range []string{"tcp_verdict_exporter", "README.md", "install.md", "config.yml", "tcp_verdict.rules.yml"} {
				if !slices.Contains(names, n) {
					t.Errorf("the archive lacks %s; it holds %v", n, names)
				}
			}
			if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "dashboards/") && strings.HasSuffix(n, ".json") }) {
				t.Errorf("the archive holds no dashboards/*.json: %v", names)
			}
			bin, ok := files[base+"/tcp_verdict_exporter"]
			if !ok {
				t.FailNow()
			}
			if bin.mode&0o111 == 0 {
				t.Errorf("the binary's mode is %v, not executable", bin.mode)
			}
			// Static, for the archive's architecture.
			f, err := elf.NewFile(bytes.NewReader(bin.data))
			if err != nil {
				t.Fatalf("the binary is not ELF: %v", err)
			}
			if f.Machine != a.machine {
				t.Errorf("the binary is for %v, want %v", f.Machine, a.machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("the binary asks for a dynamic loader; want a static build")
				}
			}
			for _, n := range []string{"config.yml", "tcp_verdict.rules.yml"} {
				if src := mustRead(t, filepath.Join(root, sourceOf[n])); !bytes.Equal(files[base+"/"+n].data, src) {
					t.Errorf("the archive's %s differs from %s", n, sourceOf[n])
				}
			}
			if a.goarch != "amd64" {
				return
			}
			// --version of the archive's own binary names the release's
			// version and revision.
			exe := filepath.Join(t.TempDir(), "tcp_verdict_exporter")
			if err := os.WriteFile(exe, bin.data, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(exe, "--version").CombinedOutput()
			if err != nil {
				t.Fatalf("tcp_verdict_exporter --version: %v\n%s", err, out)
			}
			t.Logf("--version:\n%s", out)
			for _, w := range []string{"version " + version + " ", "revision: " + revision, "build date: "} {
				if !strings.Contains(string(out), w) {
					t.Errorf("--version lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// sourceOf is where each file the archive copies lives in the repository
// (scripts/release.sh's list).
var sourceOf = map[string]string{
	"config.yml":            "config.yml",
	"tcp_verdict.rules.yml": "mixin/alerts/tcp_verdict.rules.yml",
}

// checkSums fails unless sha256sums.txt lists exactly the artefacts, each
// with the digest of its bytes.
func checkSums(t *testing.T, dir string, artefacts []string) {
	t.Helper()
	sums := string(mustRead(t, filepath.Join(dir, "sha256sums.txt")))
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(sums), "\n") {
		digest, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Errorf("sha256sums.txt: %q is not sha256sum's DIGEST  NAME", line)
			continue
		}
		listed = append(listed, name)
		h := sha256.Sum256(mustRead(t, filepath.Join(dir, name)))
		if got := hex.EncodeToString(h[:]); got != digest {
			t.Errorf("sha256sums.txt: %s is listed as %s, its digest is %s", name, digest, got)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, artefacts) {
		t.Errorf("sha256sums.txt lists %v, want %v", listed, artefacts)
	}
}

type archived struct {
	data     []byte
	mode     os.FileMode
	uid, gid int
}

// readArchive reads every regular file of a .tar.gz.
func readArchive(t *testing.T, path string) map[string]archived {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() //nolint:errcheck // read only
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := tar.NewReader(zr)
	files := map[string]archived{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, h.Name, err)
		}
		files[h.Name] = archived{data: data, mode: h.FileInfo().Mode(), uid: h.Uid, gid: h.Gid}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The packages hold the layout of Debian's prometheus-blackbox-exporter:
// the binary in /usr/bin, the config and /etc/default file as conffiles,
// the systemd unit, the docs, the rules and dashboards under /usr/share;
// their metadata names the release's version and architecture.
func TestPackageContents(t *testing.T) {
	dir, version, _ := release(t)
	layout := []string{
		"/usr/bin/tcp_verdict_exporter",
		"/etc/tcp_verdict_exporter/config.yml",
		"/etc/default/tcp-verdict-exporter",
		"/usr/lib/systemd/system/tcp-verdict-exporter.service",
		"/usr/share/doc/tcp-verdict-exporter/README.md",
		"/usr/share/tcp-verdict-exporter/tcp_verdict.rules.yml",
	}
	conffiles := []string{"/etc/default/tcp-verdict-exporter", "/etc/tcp_verdict_exporter/config.yml"}
	for _, a := range arches {
		t.Run("deb-"+a.goarch, func(t *testing.T) {
			testenv.NeedTools(t, "dpkg-deb")
			deb := filepath.Join(dir, fmt.Sprintf("tcp-verdict-exporter_%s-1_%s.deb", version, a.deb))
			fields := run(t, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture")
			want := fmt.Sprintf("Package: tcp-verdict-exporter\nVersion: %s-1\nArchitecture: %s\n", version, a.deb)
			if fields != want {
				t.Errorf("control fields:\n%s\nwant:\n%s", fields, want)
			}
			list := run(t, "dpkg-deb", "-c", deb)
			for _, p := range layout {
				if !strings.Contains(list, " ."+p+"\n") {
					t.Errorf("the .deb lacks %s:\n%s", p, list)
				}
			}
			got := strings.Fields(run(t, "dpkg-deb", "-I", deb, "conffiles"))
			slices.Sort(got)
			if !slices.Equal(got, conffiles) {
				t.Errorf("conffiles %v, want %v", got, conffiles)
			}
		})
		t.Run("rpm-"+a.goarch, func(t *testing.T) {
			testenv.NeedTools(t, "rpm")
			pkg := filepath.Join(dir, fmt.Sprintf("tcp-verdict-exporter-%s-1.%s.rpm", version, a.rpm))
			if got, want := run(t, "rpm", "-qp", "--qf", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}\n", pkg),
				fmt.Sprintf("tcp-verdict-exporter %s-1 %s\n", version, a.rpm); got != want {
				t.Errorf("rpm header %q, want %q", got, want)
			}
			list := run(t, "rpm", "-qlp", pkg)
			for _, p := range layout {
				if !slices.Contains(strings.Split(list, "\n"), p) {
					t.Errorf("the .rpm lacks %s:\n%s", p, list)
				}
			}
			got := strings.Fields(run(t, "rpm", "-qcp", pkg))
			slices.Sort(got)
			if !slices.Equal(got, conffiles) {
				t.Errorf("config files %v, want %v", got, conffiles)
			}
			if scripts := run(t, "rpm", "-qp", "--scripts", pkg); !strings.Contains(scripts, "useradd --system") {
				t.Errorf("the .rpm's scripts do not create the service's user:\n%s", scripts)
			}
		})
	}
}

// run runs a command and returns its standard output, failing the test
// when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// unit is a systemd unit file's settings by section and key, each with
// every value it was given, in order.
type unit map[string]map[string][]string

func parseUnit(data []byte) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: %q is not KEY=VALUE in a section", n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

// one is the single value of a [Service] key.
func (u unit) one(t *testing.T, key string) string {
	t.Helper()
	v := u["Service"][key]
	if len(v) != 1 {
		t.Fatalf("the unit sets %s %d times (%q), want once", key, len(v), v)
	}
	return v[0]
}

// Rebuilding the same commit gives the same bytes: a second run of
// scripts/release.sh (amd64 only, to save time) writes archive and packages
// with the digests of the first.
func TestReleaseIsReproducible(t *testing.T) {
	dir, version, _ := release(t)
	again := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "release.sh"), again)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ARCHS=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/release.sh (again): %v\n%s", err, out)
	}
	for _, name := range []string{archiveName(version, "amd64") + ".tar.gz",
		fmt.Sprintf("tcp-verdict-exporter_%s-1_amd64.deb", version),
		fmt.Sprintf("tcp-verdict-exporter-%s-1.x86_64.rpm", version)} {
		first, second := sha256.Sum256(mustRead(t, filepath.Join(dir, name))), sha256.Sum256(mustRead(t, filepath.Join(again, name)))
		if first != second {
			t.Errorf("%s: %x the first time, %x the second", name, first, second)
		}
	}
}
