//go:build linux

package statuspage

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

var update = flag.Bool("update", false, "rewrite docs/status-page.png with this run's screenshot")

// screenshot is the committed copy of the page, shown in docs/configuration.md,
// "Status page", and README.md.
const screenshot = "../../docs/status-page.png"

// The browser window: wide enough for the recent-probes table, tall
// enough for both tables.
const windowW, windowH = 1000, 680

const config = `modules:
  tcp:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      hold: 100ms # long enough to see the closing service's FIN
`

func TestStatusPageInChromium(t *testing.T) {
	testenv.NeedTools(t, "go", "chromium")
	dir := t.TempDir()
	bin, err := exporterproc.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	base := "http://" + listen + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	exporterproc.Run(ctx, t, "exporter", exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+listen), base+"-/healthy")

	// Loopback targets only: an open port, a closed one, and a service
	// that closes every connection at once.
	open := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	closed := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	closing := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) { _ = c.Close() })
	probes := []struct {
		target, query string
		class         verdict.Class
	}{
		{open, "", verdict.Connected},
		{closed, "", verdict.Refused},
		{closing, "&debug=true", verdict.ClosedByPeer},
		{open, "", verdict.Connected},
		{closed, "", verdict.Refused},
		{open, "&debug=true", verdict.Connected},
	}
	for _, p := range probes {
		body := httpGet(t, base+"probe?target="+p.target+p.query)
		if !strings.Contains(body, `tcp_verdict{class="`+string(p.class)+`"} 1`) {
			t.Fatalf("probe of %s: no %s verdict:\n%s", p.target, p.class, body)
		}
	}

	// The DOM as Chromium built it: both tables, one row per probe (newest
	// first) and per target, each verdict with its badge.
	dom := chromium(ctx, t, "--dump-dom", base)
	recent := rows(t, dom, "recent")
	if len(recent) != len(probes) {
		t.Fatalf("the rendered page lists %d recent probes, want %d:\n%s", len(recent), len(probes), dom)
	}
	for i, r := range recent {
		p := probes[len(probes)-1-i]
		if !strings.Contains(r, ">"+p.target+"<") || !strings.Contains(r, `class="verdict v-`+string(p.class)+`"`) ||
			!strings.Contains(r, fmt.Sprintf(`href="transcript?id=%d"`, len(probes)-i)) {
			t.Errorf("recent row %d does not show probe %d (%s, %s, its transcript link): %s", i, len(probes)-i, p.target, p.class, r)
		}
	}
	// Built without -ldflags, the binary still names a version (from its
	// build info), written for people rather than as prometheus/common's
	// "(version=..., branch=, revision=unknown)"; pprof, off, is not linked.
	if !strings.Contains(dom, "Version: (devel") || strings.Contains(dom, "branch=") || strings.Contains(dom, "debug/pprof") {
		t.Errorf("want \"Version: (devel...\" from the build info and no pprof link:\n%s", dom)
	}
	if current := rows(t, dom, "current"); len(current) != 3 {
		t.Errorf("the rendered page lists %d current verdicts, want 3 (one per target)", len(current))
	}
	// A transcript link answers.
	if body := httpGet(t, base+"transcript?id=3"); !strings.Contains(body, "Connection closed by foreign host.") {
		t.Errorf("transcript of probe 3 lacks its telnet lines:\n%s", body)
	}

	// The screenshot: the page's size, not blank, and the verdict badges
	// in their class colours.
	shot := filepath.Join(dir, "status.png")
	chromium(ctx, t, "--screenshot="+shot, fmt.Sprintf("--window-size=%d,%d", windowW, windowH), base)
	img := decodePNG(t, shot)
	if b := img.Bounds(); b.Dx() != windowW || b.Dy() != windowH {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), windowW, windowH)
	}
	counts := colourCounts(img)
	if len(counts) < 20 {
		t.Errorf("screenshot has %d colours: blank or nearly", len(counts))
	}
	for _, c := range []verdict.Class{verdict.Connected, verdict.Refused, verdict.ClosedByPeer} {
		want, err := hexColour(c.Colour().Hex)
		if err != nil {
			t.Fatal(err)
		}
		// A badge is some 80x18 pixels; each class has at least one.
		if n := counts[want]; n < 300 {
			t.Errorf("%d pixels of %s's colour %s in the screenshot; its badges are not drawn", n, c, c.Colour().Hex)
		}
	}
	if *update && !t.Failed() {
		writeSmallPNG(t, img, screenshot)
	}
}

// chromium runs headless Chromium once on url, offline but for loopback: no
// background, sync, component or QUIC traffic, and every name resolves to
// nothing but the exporter's 127.0.0.1 (the rule maps IP literals too). It
// returns standard output. Chromium's helper processes share its process group,
// which is killed by its ID on the way out.
func chromium(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	home := t.TempDir()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--user-data-dir=" + filepath.Join(home, "profile")}, args...)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chromium", all...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		if kerr := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
			t.Logf("killing chromium's process group %d: %v", cmd.Process.Pid, kerr)
		}
	}
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String()))
	}
	return stdout.String()
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", url, resp.Status, err, body)
	}
	return string(body)
}

// rows returns the <tr> elements of the table body with the given id.
func rows(t *testing.T, dom, id string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<table id="` + id + `">.*?<tbody>(.*?)</tbody>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no table %q in the rendered page:\n%s", id, dom)
	}
	return regexp.MustCompile(`(?s)<tr>.*?</tr>`).FindAllString(m[1], -1)
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer func() { _ = f.Close() }() // read only
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	return img
}

// colourCounts counts the image's pixels by colour.
func colourCounts(img image.Image) map[color.NRGBA]int {
	counts := map[color.NRGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			counts[color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)]++
		}
	}
	return counts
}

func hexColour(hex string) (color.NRGBA, error) {
	var c color.NRGBA
	if _, err := fmt.Sscanf(hex, "#%02x%02x%02x", &c.R, &c.G, &c.B); err != nil {
		return c, fmt.Errorf("colour %q: %w", hex, err)
	}
	c.A = 0xff
	return c, nil
}

// writeSmallPNG writes img as a best-compressed, palette PNG: the
// screenshot has few colours, and the repository keeps it small.
func writeSmallPNG(t *testing.T, img image.Image, path string) {
	t.Helper()
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, paletted(img)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, buf.Len())
}

// paletted maps img onto its own colours when it has at most 256 of them,
// else onto the 256 most frequent (text anti-aliasing loses a little).
func paletted(img image.Image) image.Image {
	counts := colourCounts(img)
	type cc struct {
		c color.NRGBA
		n int
	}
	var all []cc
	for c, n := range counts {
		all = append(all, cc{c, n})
	}
	// Most frequent first; ties by value, for a stable file.
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && (all[j].n > all[j-1].n || all[j].n == all[j-1].n && less(all[j].c, all[j-1].c)); j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	if len(all) > 256 {
		all = all[:256]
	}
	pal := make(color.Palette, len(all))
	for i, e := range all {
		pal[i] = e.c
	}
	out := image.NewPaletted(img.Bounds(), pal)
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}

func less(a, b color.NRGBA) bool {
	return uint32(a.R)<<16|uint32(a.G)<<8|uint32(a.B) < uint32(b.R)<<16|uint32(b.G)<<8|uint32(b.B)
}
