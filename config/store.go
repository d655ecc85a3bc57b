package config

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Store holds the running configuration and swaps it only when a new one
// parses and validates, so a bad file never takes the running one down.
type Store struct {
	path     string // empty: the embedded default, which never changes
	fallback []byte
	current  atomic.Pointer[Config]

	mu          sync.Mutex // serialises reloads
	vet         func(*Config) []string
	lastOK      atomic.Bool
	lastSuccess atomic.Int64 // unix seconds of the last successful load
}

// NewStore loads path, or the embedded default content when path is empty.
func NewStore(path string, embedded []byte) (*Store, error) {
	s := &Store{path: path, fallback: embedded}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the file again and logs the outcome to logger (nil: no
// log); on error the running config stays and the reload gauges say so.
// SIGHUP and /-/reload share it.
func (s *Store) Reload(logger *slog.Logger) error {
	err := s.load()
	if logger == nil {
		return err
	}
	if err != nil {
		logger.Error("failed to reload config, keeping the running one", "config", s.Source(), "err", err)
		return err
	}
	s.LogLoaded(logger)
	return nil
}

// LogLoaded logs the running config's modules, then what it loads with but
// cannot serve (its Warnings).
func (s *Store) LogLoaded(logger *slog.Logger) {
	c := s.Get()
	// The policy in effect, defaults included, so that an operator sees
	// what an exposed exporter may dial (docs/security.md, "Target policy").
	logger.Info("loaded config", "config", s.Source(), "modules", c.ModuleNames(),
		"target_policy_allow", c.TargetPolicy.Allow, "target_policy_deny", c.TargetPolicy.Deny)
	for _, w := range c.Warnings {
		logger.Warn(w)
	}
}

// load parses and validates the source and swaps the running config only
// when both succeed; it records the outcome for the reload metrics.
func (s *Store) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		c   *Config
		err error
	)
	if s.path == "" {
		c, err = Parse(s.fallback)
	} else {
		c, err = Load(s.path)
	}
	if err != nil {
		s.lastOK.Store(false)
		return err
	}
	if s.vet != nil {
		c.Warnings = append(c.Warnings, s.vet(c)...)
	}
	s.current.Store(c)
	s.lastOK.Store(true)
	s.lastSuccess.Store(time.Now().Unix())
	return nil
}

// SetVet adds a check of every configuration loaded from now on, whose
// findings join its Warnings: what only the running exporter can judge,
// such as modules that cannot fit its load limits. It returns the check's
// findings on the running configuration, which it leaves as it is.
func (s *Store) SetVet(vet func(*Config) []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vet = vet
	return vet(s.Get())
}

// Get returns the running configuration.
func (s *Store) Get() *Config { return s.current.Load() }

// Source names where the configuration comes from.
func (s *Store) Source() string {
	if s.path == "" {
		return "embedded default config.yml"
	}
	return s.path
}

// LastReloadSuccessful tells whether the last load attempt worked.
func (s *Store) LastReloadSuccessful() bool { return s.lastOK.Load() }

// LastSuccessUnix is when the running configuration was loaded.
func (s *Store) LastSuccessUnix() int64 { return s.lastSuccess.Load() }
