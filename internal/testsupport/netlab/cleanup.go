package netlab

import "testing"

// TestCleanup is a Cleanup that runs its steps with t.Cleanup (last in,
// first out), reporting the ones that fail as test errors.
type TestCleanup struct{ T testing.TB }

// Add registers undo with the test.
func (c TestCleanup) Add(what string, undo func() error) {
	c.T.Cleanup(func() {
		if err := undo(); err != nil {
			c.T.Errorf("teardown: %s: %v", what, err)
		}
	})
}
