package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testenv"
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

// The path trace works with the Deployment's privileges: no root, no
// capability at all (so no NET_RAW), no privilege escalation. In a network
// namespace of its own, a firewall rule rejects 127.0.0.2:7 with ICMP
// admin-prohibited; `check --module=tcp_trace`, run as the Deployment's
// user, must see the ICMP and trace the hop that sent it.
func TestTraceRunsWithTheDeploymentsPrivileges(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTools(t, "ip", "nft", "setpriv", "go")
	d := only[*appsv1.Deployment](t, load(t))
	priv, err := setprivArgs(d.Spec.Template.Spec.Containers[0].SecurityContext)
	if err != nil {
		t.Fatalf("deployment.yaml: %v", err)
	}

	// The binary must be readable and executable by the unprivileged user.
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

	args := append([]string{"ip", "netns", "exec", ns, "setpriv"}, priv...)
	args = append(args, "--", bin, "check", "--module=tcp_trace", "127.0.0.2:7")
	out, err := run("", args...)
	t.Logf("%s\n%s", strings.Join(args, " "), out)
	// check exits non-zero for a verdict other than connected; the output
	// says whether it ran.
	if !strings.Contains(out, "verdict   firewall (admin-prohibited from 127.0.0.2") {
		t.Errorf("want verdict firewall (admin-prohibited from 127.0.0.2) (exit: %v)", err)
	}
	if !strings.Contains(out, "path      hop 1 is the target 127.0.0.2") {
		t.Errorf("the trace did not locate the rejecting hop without privileges (exit: %v)", err)
	}
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
