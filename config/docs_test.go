package config

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// targetPolicyDocs returns the YAML blocks of docs/security.md's "Target
// policy" section, and the section itself.
func targetPolicyDocs(t *testing.T) (section string, blocks []string) {
	t.Helper()
	data, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i := strings.Index(doc, "\n## Target policy\n")
	if i < 0 {
		t.Fatal(`docs/security.md lacks the "Target policy" section`)
	}
	section = doc[i+1:]
	for _, next := range []string{"\n## ", "\n### "} { // the next section, or a sub-section
		if j := strings.Index(section, next); j >= 0 {
			section = section[:j]
		}
	}
	for _, part := range strings.Split(section, "```yaml\n")[1:] {
		blocks = append(blocks, part[:strings.Index(part, "```")])
	}
	return section, blocks
}

// The documented policies load, refuse what their comments say, and its default
// list is DefaultTargetDeny.
func TestDocumentedTargetPolicy(t *testing.T) {
	section, blocks := targetPolicyDocs(t)
	if len(blocks) != 2 {
		t.Fatalf("found %d YAML blocks in docs/security.md's Target policy section, want 2", len(blocks))
	}
	first, err := Parse([]byte(blocks[0] + "modules:\n  tcp:\n    prober: tcp\n"))
	if err != nil {
		t.Fatalf("docs/security.md's first policy: %v", err)
	}
	recommended, err := Parse([]byte(blocks[1]))
	if err != nil {
		t.Fatalf("docs/security.md's recommended policy: %v", err)
	}
	for _, tc := range []struct {
		c                  *Config
		module, addr, want string
	}{
		{first, "tcp", "10.1.2.3", ""},
		{first, "tcp", "127.0.0.1", "target 127.0.0.1 refused by target_policy.deny 127.0.0.0/8"},
		{first, "tcp", "192.0.2.1", "target 192.0.2.1 refused by target_policy.allow (the address is in none of its entries)"},
		{recommended, "tcp", "10.20.3.4", ""},
		{recommended, "tcp", "10.20.0.5", "target 10.20.0.5 refused by target_policy.deny 10.20.0.5"},
		{recommended, "tcp", "::ffff:127.0.0.1", "target 127.0.0.1 refused by target_policy.deny 127.0.0.0/8"},
		{recommended, "tcp", "169.254.169.254", "target 169.254.169.254 refused by target_policy.deny 169.254.0.0/16"},
		{recommended, "ssh_banner", "10.20.9.1", ""},
		{recommended, "ssh_banner", "10.20.3.4", "target 10.20.3.4 refused by modules.ssh_banner.target_policy.allow (the address is in none of its entries)"},
	} {
		if got := refusal(t, tc.c, tc.module, tc.addr); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.module, tc.addr, got, tc.want)
		}
	}
	for _, quoted := range []string{
		"`target 127.0.0.1 refused by target_policy.deny 127.0.0.0/8`",
		"`target 192.0.2.1 refused by target_policy.allow (the address is in none\n  of its entries)`",
	} {
		if !strings.Contains(section, quoted) {
			t.Errorf("docs/security.md no longer quotes %s", quoted)
		}
	}
	defaults, _ := json.Marshal(DefaultTargetDeny)
	want := "`deny` is `" + strings.ReplaceAll(string(defaults), ",", ", ") + "`"
	if !strings.Contains(strings.ReplaceAll(section, "\n", " "), want) {
		t.Errorf("docs/security.md does not state the default deny list as %s", want)
	}
	// The recommended deny list keeps every default entry.
	deny := strings.Join(recommended.TargetPolicy.Deny, " ")
	for _, d := range DefaultTargetDeny {
		if !strings.Contains(" "+deny+" ", " "+d+" ") {
			t.Errorf("docs/security.md's recommended deny list drops the default %s", d)
		}
	}
}
