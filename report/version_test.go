package report

import "testing"

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		name, version, revision, date, want string
	}{
		{"stamped release", "0.1.0", "180f25a1b2c3d4e5f60718293a4b5c6d7e8f9012", "20261202-16:38:44",
			"0.1.0 (revision 180f25a1b2c3, built 2026-12-02 16:38 UTC)"},
		{"go build with VCS info, dirty", "(devel)", "180f25a1b2c3d4e5f60718293a4b5c6d7e8f9012-modified", "",
			"(devel) (revision 180f25a1b2c3-modified)"},
		{"go build without VCS info", "(devel)", "unknown", "", "(devel)"},
		{"nothing at all", "", "", "", "(devel)"},
		{"short revision kept", "1.0.0", "abc1234", "", "1.0.0 (revision abc1234)"},
		{"date in another format kept as is", "1.0.0", "", "2026-12-02", "1.0.0 (built 2026-12-02)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Version(tc.version, tc.revision, tc.date); got != tc.want {
				t.Errorf("Version(%q, %q, %q) = %q, want %q", tc.version, tc.revision, tc.date, got, tc.want)
			}
		})
	}
}
