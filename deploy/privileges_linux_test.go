package deploy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"golang.org/x/sys/unix"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
)

// setprivArgs turns the container's securityContext into setpriv(1)
// arguments, so the test below runs the exporter with exactly the privileges
// the Deployment grants, and fails if the manifest grants something this
// translation does not know.
func setprivArgs(sc *corev1.SecurityContext) ([]string, error) {
	switch {
	case sc == nil || sc.RunAsUser == nil || sc.RunAsGroup == nil:
		return nil, errorf("securityContext must set runAsUser and runAsGroup")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		return nil, errorf("capabilities must drop ALL and add none")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		return nil, errorf("allowPrivilegeEscalation must be false")
	}
	return []string{
		"--reuid=" + strconv.FormatInt(*sc.RunAsUser, 10),
		"--regid=" + strconv.FormatInt(*sc.RunAsGroup, 10),
		"--clear-groups",
		"--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all",
		"--no-new-privs",
	}, nil
}

// The Deployment runs as its manifest says, with nothing more: the exporter
// starts with the Deployment's args and the ConfigMap's config, as user
// 65534 with no capability in any set, no_new_privs and a read-only root
// filesystem, in a network namespace of its own where a firewall rule
// rejects 127.0.0.2:7 with ICMP admin-prohibited. Its liveness path answers,
// and a tcp_trace probe of that target says firewall and names the hop that
// rejected it: the path trace needs no NET_RAW.
func TestDeploymentRunsUnprivileged(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTools(t, "ip", "nft", "setpriv", "unshare", "mount", "go")
	s := load(t)
	d := only[*appsv1.Deployment](t, s)
	cm := only[*corev1.ConfigMap](t, s)
	c := d.Spec.Template.Spec.Containers[0]
	priv, err := setprivArgs(c.SecurityContext)
	if err != nil {
		t.Fatalf("deployment.yaml: %v", err)
	}
	if c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Fatal("deployment.yaml: readOnlyRootFilesystem must be true")
	}

	// The binary and the config must be readable by the unprivileged user.
	dir, err := os.MkdirTemp("", "tve-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tcp_verdict_exporter")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the exporter: %v\n%s", err, out)
	}
	// The ConfigMap's files, where the container mounts them (the mount
	// path moved under dir: the host's /etc stays untouched).
	if len(c.VolumeMounts) != 1 {
		t.Fatalf("want one volume mount, the config; got %+v", c.VolumeMounts)
	}
	mountPath := c.VolumeMounts[0].MountPath
	for name, data := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{bin}
	for _, a := range c.Args {
		args = append(args, strings.Replace(a, mountPath, dir, 1))
	}

	ns := "tve-deploy-" + strconv.Itoa(os.Getpid())
	run := func(stdin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("", "ip", "netns", "add", ns); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := run("", "ip", "netns", "del", ns); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	if out, err := run("", "ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
		t.Fatalf("lo up: %v\n%s", err, out)
	}
	const ruleset = `table ip tve_deploy {
  chain out {
    type filter hook output priority 0
    ip daddr 127.0.0.2 tcp dport 7 reject with icmp type admin-prohibited
  }
}
`
	if out, err := run(ruleset, "ip", "netns", "exec", ns, "nft", "-f", "-"); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}

	// unshare gives the exporter a mount namespace of its own, where the
	// root filesystem is remounted read-only; every step execs the next,
	// so the process started here ends as the exporter.
	script := `mount --make-rprivate / && mount -o remount,bind,ro / && exec setpriv "$@"`
	cmdline := append([]string{"ip", "netns", "exec", ns, "unshare", "--mount", "--", "sh", "-c", script, "sh"}, priv...)
	cmdline = append(cmdline, "--")
	cmdline = append(cmdline, args...)
	var logs strings.Builder
	exporter := exec.Command(cmdline[0], cmdline[1:]...)
	exporter.Stdout, exporter.Stderr = &logs, &logs
	if err := exporter.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := exporter.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("stopping the exporter (pid %d): %v", exporter.Process.Pid, err)
		}
		_ = exporter.Wait() // exits non-zero on SIGTERM's way out, or was already gone
		t.Logf("%s\nexporter log:\n%s", strings.Join(cmdline, " "), logs.String())
	})

	port := strconv.Itoa(int(c.Ports[0].ContainerPort))
	healthy := c.LivenessProbe.HTTPGet.Path
	var status int
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if status, _, err = getInNS(ns, port, healthy); err == nil {
			break
		}
	}
	if err != nil || status != 200 {
		t.Fatalf("GET %s: status %d, %v", healthy, status, err)
	}
	checkConfined(t, exporter.Process.Pid)
	status, body, err := getInNS(ns, port, "/probe?module=tcp_trace&target=127.0.0.2:7")
	if err != nil || status != 200 {
		t.Fatalf("GET /probe: status %d, %v\n%s", status, err, body)
	}
	for _, want := range []string{
		`tcp_verdict{class="firewall"} 1`,
		`reason="admin-prohibited"`,
		`tcp_trace_last_hop_info{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the probe's metrics lack %s:\n%s", want, body)
		}
	}
	if !regexp.MustCompile(`tcp_trace_last_hop_info\{[^}]*127\.0\.0\.2`).MatchString(body) {
		t.Errorf("the trace did not name the rejecting hop 127.0.0.2:\n%s", body)
	}
}

// checkConfined fails unless the running process pid is user 65534 with no
// capability in any set, no_new_privs, and sees its root filesystem
// read-only: what the test claims to have set up.
func checkConfined(t *testing.T, pid int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || filepath.Base(exe) != "tcp_verdict_exporter" {
		t.Fatalf("pid %d is %q (%v), not the exporter", pid, exe, err)
	}
	want := map[string]string{
		"Uid": "65534\t65534\t65534\t65534", "Gid": "65534\t65534\t65534\t65534", "Groups": "",
		"CapInh": "0000000000000000", "CapPrm": "0000000000000000", "CapEff": "0000000000000000",
		"CapBnd": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1",
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if w, ok := want[k]; ok {
			if got := strings.TrimSpace(v); got != w {
				t.Errorf("exporter's %s: %q, want %q", k, got, w)
			}
			delete(want, k)
		}
	}
	if len(want) > 0 {
		t.Errorf("/proc/%d/status lacks %v", pid, want)
	}
	mountinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	rootRO := false
	for _, line := range strings.Split(string(mountinfo), "\n") {
		// id parent major:minor root mountpoint options ...
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
			rootRO = slices.Contains(strings.Split(f[5], ","), "ro")
		}
	}
	if !rootRO {
		t.Errorf("the exporter's root filesystem is not read-only:\n%s", mountinfo)
	}
}

// getInNS sends GET path to 127.0.0.1:port inside network namespace ns. The
// socket is made on a thread that joined ns (and is never unlocked, so the
// thread ends with the goroutine); it stays in ns wherever it is used.
func getInNS(ns, port, path string) (int, string, error) {
	type dialed struct {
		conn net.Conn
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- dialed{err: err}
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		_ = unix.Close(fd)
		if err != nil {
			ch <- dialed{err: fmt.Errorf("joining %s: %w", ns, err)}
			return
		}
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 2*time.Second)
		ch <- dialed{conn, err}
	}()
	r := <-ch
	if r.err != nil {
		return 0, "", r.err
	}
	defer func() { _ = r.conn.Close() }() // the answer is read in full below
	if err := r.conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Close = true
	if err := req.Write(r.conn); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(r.conn), req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// A securityContext that grants more than the translation knows is refused,
// so the trace test cannot pass with privileges it did not apply.
func TestSetprivArgsRefusesPrivileges(t *testing.T) {
	id := int64(65534)
	yes, no := true, false
	good := func() *corev1.SecurityContext {
		return &corev1.SecurityContext{
			RunAsUser: &id, RunAsGroup: &id, AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}
	if _, err := setprivArgs(good()); err != nil {
		t.Fatalf("the unprivileged context: %v", err)
	}
	for name, mutate := range map[string]func(*corev1.SecurityContext){
		"no user":        func(sc *corev1.SecurityContext) { sc.RunAsUser = nil },
		"no group":       func(sc *corev1.SecurityContext) { sc.RunAsGroup = nil },
		"adds NET_RAW":   func(sc *corev1.SecurityContext) { sc.Capabilities.Add = []corev1.Capability{"NET_RAW"} },
		"drops one only": func(sc *corev1.SecurityContext) { sc.Capabilities.Drop = []corev1.Capability{"NET_ADMIN"} },
		"no caps field":  func(sc *corev1.SecurityContext) { sc.Capabilities = nil },
		"escalation":     func(sc *corev1.SecurityContext) { sc.AllowPrivilegeEscalation = &yes },
		"escalation nil": func(sc *corev1.SecurityContext) { sc.AllowPrivilegeEscalation = nil },
	} {
		sc := good()
		mutate(sc)
		if _, err := setprivArgs(sc); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := setprivArgs(nil); err == nil {
		t.Error("nil context: accepted")
	}
}
