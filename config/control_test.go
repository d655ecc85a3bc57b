package config

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestControlPorts(t *testing.T) {
	c, err := Parse([]byte("modules:\n  a:\n    prober: tcp\n    tcp:\n      control_ports: [22, 443]\n  b:\n    prober: tcp\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Modules["a"].TCP.ControlPorts; !slices.Equal(got, ControlPorts{22, 443}) {
		t.Errorf("control_ports = %v, want [22 443]", got)
	}
	if got := c.Modules["b"].TCP.ControlPorts; got != nil {
		t.Errorf("a module without control_ports has %v, want none: it must send nothing more than today", got)
	}
}

// Every bad list is refused with the key, the line and what is wrong.
func TestBadControlPorts(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"[0]", "line 5: tcp.control_ports[0] 0 is not a port from 1 to 65535"},
		{"[22, 65536]", "line 5: tcp.control_ports[1] 65536 is not a port from 1 to 65535"},
		{"[-1]", "line 5: tcp.control_ports[0] -1 is not a port from 1 to 65535"},
		{"[22, ssh]", `line 5: tcp.control_ports[1] "ssh" is not a port number`},
		{"[1.5]", `line 5: tcp.control_ports[0] "1.5" is not a port number`},
		{"[[22]]", `line 5: tcp.control_ports[0] "" is not a port number`},
		{"[22, 443, 22]", "line 5: tcp.control_ports[2] 22 is listed twice"},
		{"[1, 2, 3, 4, 5]", "line 5: tcp.control_ports lists 5 ports; at most 4"},
		{"22", "line 5: tcp.control_ports must be a list of ports, e.g. [22, 443]"},
		{"\n        - 22\n        - 99999", "line 7: tcp.control_ports[1] 99999 is not a port from 1 to 65535"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			_, err := Parse([]byte("modules:\n  a:\n    prober: tcp\n    tcp:\n      control_ports: " + tc.value + "\n"))
			if err == nil {
				t.Fatalf("control_ports: %s loaded; want an error", tc.value)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// The example of docs/host-evidence.md loads, with its control ports.
func TestHostEvidenceDocExample(t *testing.T) {
	data, err := os.ReadFile("../docs/host-evidence.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(data), "```yaml\n")
	if !ok {
		t.Fatal("docs/host-evidence.md has no YAML example")
	}
	block, _, _ = strings.Cut(block, "```")
	c, err := Parse([]byte(block))
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	if got := c.Modules["tcp_diagnosed"].TCP.ControlPorts; !slices.Equal(got, ControlPorts{22, 443}) {
		t.Errorf("control_ports = %v, want [22 443]", got)
	}
}
