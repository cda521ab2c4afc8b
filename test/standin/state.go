package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// stateFile is the server's own state under --state-dir: the cluster's security and the
// databases it has attached (with the credentials their statements gave, as SingleStore
// keeps them), so that a restarted server comes back with them.
type stateFile struct {
	Security  securityState `json:"security"`
	Databases []attachedDB  `json:"databases"`
}

type attachedDB struct {
	Name      string   `json:"name"`
	Target    s3Target `json:"target"`
	StorageID string   `json:"storage_id"`
	Lock      string   `json:"lock"`
}

func (s *Server) statePath() string { return filepath.Join(s.cfg.StateDir, "state.json") }

func (s *Server) loadState() (*stateFile, error) {
	st := &stateFile{}
	data, err := os.ReadFile(s.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("read state %s: %w", s.statePath(), err)
	}
	return st, nil
}

// saveState writes the state atomically (temporary file, fsync, rename), so that a kill at
// any point leaves either the old or the new file.
func (s *Server) saveState() error {
	st := stateFile{Security: *s.sec}
	for _, b := range s.dbs {
		st.Databases = append(st.Databases, attachedDB{Name: b.name, Target: b.target, StorageID: b.sid(), Lock: b.lock})
	}
	for _, p := range s.unattached {
		if s.dbs[strings.ToLower(p.Name)] == nil {
			st.Databases = append(st.Databases, p)
		}
	}
	sort.Slice(st.Databases, func(i, j int) bool { return st.Databases[i].Name < st.Databases[j].Name })
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.cfg.StateDir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.statePath()); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
