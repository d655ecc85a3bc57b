//go:build linux

package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// runFlags are the podman flags this test runs the image with. runc,
// because crun is not what Debian's podman needs here; explicit ulimits,
// because podman's default (nofile 1048576) is above what some hosts let
// even root set (README.md, "Container image").
var runFlags = []string{"--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"}

// sizeNote is how scripts/image.sh's last message gives the size: buildah's
// "13.7 MB" or docker's "13748813 bytes".
var sizeNote = regexp.MustCompile(`\((\d+(\.\d+)? [kMG]?B|\d+ bytes)\)`)

// nobody is the image's user (Dockerfile USER).
const nobody = "65534"

// imageConfig is the part of `podman image inspect` the test checks.
type imageConfig struct {
	ID           string `json:"Id"`
	Size         int64
	Os           string
	Architecture string
	Config       struct {
		User         string
		Entrypoint   []string
		Cmd          []string
		ExposedPorts map[string]struct{}
	}
}

func TestImage(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTools(t, "go", "buildah", "podman", "runc")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// A tag of its own, so that the test never touches another image.
	tag := fmt.Sprintf("test-%d-%d", os.Getpid(), time.Now().UnixNano())
	start := time.Now()
	script := exec.CommandContext(ctx, filepath.Join(root, "scripts", "image.sh"), tag)
	script.Dir = root
	script.Env = append(os.Environ(), "IMAGE_TOOL=buildah") // podman reads buildah's storage, not docker's
	var stderr bytes.Buffer
	script.Stderr = &stderr
	out, err := script.Output()
	built := time.Since(start)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	list := lines[len(lines)-1]
	// Remove the list and each architecture's image by ID (also when the
	// build half failed after tagging).
	t.Cleanup(func() {
		removeList(t, list)
		for _, arch := range arches {
			removeImage(t, list+"-"+arch)
		}
	})
	if err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", err, stderr.String())
	}
	if !strings.HasSuffix(list, ":"+tag) {
		t.Fatalf("scripts/image.sh's last line is %q, want the reference ending in :%s", list, tag)
	}
	t.Logf("built %s in %v; %s", list, built.Round(100*time.Millisecond), lastLine(stderr.String()))

	// One manifest list, one image per architecture, each tagged LIST-ARCH
	// and built for its platform.
	checkManifestList(ctx, t, list)
	for _, arch := range arches {
		img := inspectImage(ctx, t, list+"-"+arch)
		if img.Os != "linux" || img.Architecture != arch {
			t.Errorf("image %s-%s is for %s/%s, want linux/%s", list, arch, img.Os, img.Architecture, arch)
		}
	}
	// The rest runs the host's (amd64) image, as a runtime resolving the
	// list on this machine would.
	ref := list + "-amd64"

	img := inspectImage(ctx, t, ref)
	t.Logf("image %.12s: %d bytes (%.1f MB)", img.ID, img.Size, float64(img.Size)/1e6)
	if img.Size <= 0 {
		t.Errorf("image size is %d, want it reported", img.Size)
	}
	if !sizeNote.MatchString(lastLine(stderr.String())) {
		t.Errorf("scripts/image.sh does not report the size; its last message is %q", lastLine(stderr.String()))
	}
	if img.Config.User != nobody+":"+nobody {
		t.Errorf("image USER = %q, want %s:%s", img.Config.User, nobody, nobody)
	}
	if want := []string{"/bin/tcp_verdict_exporter"}; !equal(img.Config.Entrypoint, want) {
		t.Errorf("image ENTRYPOINT = %q, want %q", img.Config.Entrypoint, want)
	}
	if len(img.Config.Cmd) != 1 || !strings.HasPrefix(img.Config.Cmd[0], "--config.file=/") {
		t.Errorf("image CMD = %q, want one --config.file= flag", img.Config.Cmd)
	}
	if _, ok := img.Config.ExposedPorts["9765/tcp"]; !ok {
		t.Errorf("image exposes %v, want 9765/tcp", img.Config.ExposedPorts)
	}
	checkFiles(ctx, t, ref)

	// The exporter shares the host's network but listens on loopback only;
	// it keeps the image's CMD (its config file) and adds the address.
	listen := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	name := "tve-image-" + tag
	// Locked down as Kubernetes' restricted profile would run it: no
	// capabilities, read-only root (the trace needs neither NET_RAW nor a
	// writable file).
	args := append([]string{"run", "--detach", "--name", name, "--network", "host", "--cap-drop=ALL", "--read-only"}, runFlags...)
	args = append(append(append(args, ref), img.Config.Cmd...), "--web.listen-address="+listen)
	started := time.Now()
	t.Cleanup(func() {
		if _, err := podman(context.Background(), t, "rm", "--force", "--time", "2", name); err != nil {
			t.Errorf("removing container %s: %v", name, err)
		}
	})
	if _, err := podman(ctx, t, args...); err != nil {
		t.Fatal(err)
	}
	base := "http://" + listen
	if err := waitHealthy(ctx, base+"/-/healthy"); err != nil {
		logs, _ := podman(ctx, t, "logs", name)
		t.Fatalf("container %s: %v\n%s", name, err, logs)
	}
	t.Logf("healthy %v after podman run", time.Since(started).Round(10*time.Millisecond))

	checkUser(ctx, t, name)

	open := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	closed := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	dropped := testnet.FullBacklog(t).String()
	for _, c := range []struct {
		target, module string // module "" is the default
		class          verdict.Class
		reason         verdict.Reason
		responder      string // empty: nothing answered
		success        float64
		traced         bool
	}{
		{open, "", verdict.Connected, verdict.SynAck, "127.0.0.1", 1, false},
		{closed, "", verdict.Refused, verdict.ConnRefused, "127.0.0.1", 0, false},
		// The full accept queue drops SYNs as a firewall would; the trace
		// runs on loopback and meets the same silence.
		{dropped, "tcp_trace", verdict.Firewall, verdict.NoResponse, "", 0, true},
	} {
		q := url.Values{"target": {c.target}}
		if c.module != "" {
			q.Set("module", c.module)
		}
		mfs := scrape(ctx, t, base+"/probe?"+q.Encode())
		if got := value(mfs, "probe_success", nil); got != c.success {
			t.Errorf("%s: probe_success = %v, want %v", c.target, got, c.success)
		}
		info := map[string]string{"class": string(c.class), "reason": string(c.reason), "responder": c.responder}
		if got := value(mfs, "tcp_verdict_info", info); got != 1 {
			t.Errorf("%s: tcp_verdict_info%v = %v, want 1; got series %v", c.target, info, got, mfs["tcp_verdict_info"].GetMetric())
		}
		// The trace's series exist only when its sockets opened and it ran.
		if _, traced := mfs["tcp_trace_hops_answered"]; traced != c.traced {
			t.Errorf("%s module %q: trace ran = %v, want %v", c.target, c.module, traced, c.traced)
		}
	}

	// The version scripts/image.sh stamped, not the unstamped default.
	mfs := scrape(ctx, t, base+"/metrics")
	builds := mfs["tcp_verdict_exporter_build_info"].GetMetric()
	if len(builds) != 1 {
		t.Fatalf("want one tcp_verdict_exporter_build_info series, got %v", builds)
	}
	labels := labelMap(builds[0])
	if rev, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err == nil {
		// scripts/build.sh marks a build from a dirty tree as
		// prometheus/common does.
		if want := strings.TrimSpace(string(rev)); labels["revision"] != want && labels["revision"] != want+"-modified" {
			t.Errorf("build_info revision = %q, want %q", labels["revision"], want)
		}
	}
	for _, l := range []string{"version", "branch"} {
		if labels[l] == "" || labels[l] == "unknown" {
			t.Errorf("build_info %s = %q, want it stamped", l, labels[l])
		}
	}
}

// podman runs podman with args and returns its standard output; the error
// carries its standard error.
func podman(ctx context.Context, t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "podman", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func inspectImage(ctx context.Context, t *testing.T, ref string) imageConfig {
	t.Helper()
	out, err := podman(ctx, t, "image", "inspect", ref)
	if err != nil {
		t.Fatal(err)
	}
	var imgs []imageConfig
	if err := json.Unmarshal([]byte(out), &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("podman image inspect %s: %v (%d images)\n%s", ref, err, len(imgs), out)
	}
	return imgs[0]
}

// arches are the architectures scripts/image.sh builds by default.
var arches = []string{"amd64", "arm64"}

// checkManifestList fails unless list is a manifest list of exactly one
// linux image per architecture of arches.
func checkManifestList(ctx context.Context, t *testing.T, list string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "buildah", "manifest", "inspect", list)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("buildah manifest inspect %s: %v", list, err)
	}
	var index struct {
		Manifests []struct {
			Digest   string
			Platform struct{ OS, Architecture string }
		}
	}
	if err := json.Unmarshal(out, &index); err != nil {
		t.Fatalf("buildah manifest inspect %s: %v\n%s", list, err, out)
	}
	var platforms []string
	for _, m := range index.Manifests {
		platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	var want []string
	for _, a := range arches {
		want = append(want, "linux/"+a)
	}
	if strings.Join(platforms, " ") != strings.Join(want, " ") {
		t.Errorf("manifest list %s holds %v, want %v", list, platforms, want)
	}
	t.Logf("manifest list %s: %v", list, platforms)
}

// removeList removes the manifest list (its images stay; removeImage
// removes them).
func removeList(t *testing.T, list string) {
	if err := exec.Command("buildah", "manifest", "exists", list).Run(); err != nil {
		return // never built
	}
	if out, err := exec.Command("buildah", "manifest", "rm", list).CombinedOutput(); err != nil {
		t.Errorf("removing manifest list %s: %v\n%s", list, err, out)
	}
}

// removeImage removes the image by its ID, so that nothing else is touched
// even if the tag moved.
func removeImage(t *testing.T, ref string) {
	ctx := context.Background()
	id, err := podman(ctx, t, "image", "inspect", "--format", "{{.Id}}", ref)
	if err != nil {
		return // never built
	}
	if _, err := podman(ctx, t, "rmi", "--force", strings.TrimSpace(id)); err != nil {
		t.Errorf("removing image %s: %v", ref, err)
	}
}

// checkFiles mounts the image and checks what the Dockerfile copies besides
// the binary: the CA bundle for TLS modules and the user's passwd line.
func checkFiles(ctx context.Context, t *testing.T, ref string) {
	t.Helper()
	out, err := podman(ctx, t, "image", "mount", ref)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := podman(context.Background(), t, "image", "unmount", ref); err != nil {
			t.Errorf("unmounting image %s: %v", ref, err)
		}
	}()
	dir := strings.TrimSpace(out)
	for file, want := range map[string]string{
		"etc/ssl/certs/ca-certificates.crt": "-----BEGIN CERTIFICATE-----",
		"etc/passwd":                        "nobody:x:" + nobody + ":" + nobody + ":",
		"etc/group":                         "nogroup:x:" + nobody + ":",
	} {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Errorf("image file /%s: %v", file, err)
		} else if !bytes.Contains(data, []byte(want)) {
			t.Errorf("image file /%s lacks %q", file, want)
		}
	}
}

// checkUser reads the exporter's credentials from /proc by the PID podman
// reports: real, effective, saved and filesystem IDs all nobody's.
func checkUser(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	pid, err := podman(ctx, t, "inspect", "--format", "{{.State.Pid}}", name)
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		key, ids, ok := strings.Cut(line, ":")
		if !ok || (key != "Uid" && key != "Gid") {
			continue
		}
		for _, id := range strings.Fields(ids) {
			if id != nobody {
				t.Errorf("exporter (PID %s) %s = %s, want all %s", strings.TrimSpace(pid), key, strings.TrimSpace(ids), nobody)
				break
			}
		}
	}
}

func waitHealthy(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close() // only the status matters
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("not healthy at %s: %v (last: %v)", u, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// client never goes through a proxy: the exporter is on loopback.
var client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: nil}}

func scrape(ctx context.Context, t *testing.T, u string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	// As Prometheus would send it; it also bounds the traced probe.
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "3")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // the body is read in full below
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %s, %v\n%s", u, resp.Status, err, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", u, err, body)
	}
	return mfs
}

// value is the gauge of the series of name whose labels include want, or
// -1 when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	for _, m := range mfs[name].GetMetric() {
		got := labelMap(m)
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if match {
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func labelMap(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func equal(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }
