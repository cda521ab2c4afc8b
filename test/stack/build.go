package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// ModuleRoot returns the root folder of this repository (where go.mod is).
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the bottomless-dr module")
	}
	return filepath.Dir(gomod), nil
}

var buildOnce sync.Map // dir -> *buildResult

type buildResult struct {
	once sync.Once
	err  error
}

// BuildBinaries builds bdr-worker, bdr and the stand-in database from this repository into dir, once per process and
// dir. Go's build cache makes a rebuild of unchanged code quick.
func BuildBinaries(ctx context.Context, dir string) error {
	v, _ := buildOnce.LoadOrStore(dir, &buildResult{})
	res := v.(*buildResult)
	res.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			res.err = err
			return
		}
		// One go build for both: the packages they share are compiled once.
		cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./worker", "./starter", "./test/standin/cmd/standin")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			res.err = fmt.Errorf("go build ./worker ./starter ./test/standin/cmd/standin: %w\n%s", err, out)
			return
		}
		// go build names a binary after its folder; ours are called bdr-worker and bdr.
		for from, to := range map[string]string{"worker": "bdr-worker", "starter": "bdr"} {
			if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
				res.err = fmt.Errorf("build: %w", err)
				return
			}
		}
	})
	return res.err
}
