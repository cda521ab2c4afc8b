package config_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/bottomless-dr/bottomless-dr/config"
)

// We cannot run Docker here, so docker-compose.yml is checked statically:
// its services exist and reference each other correctly, host ports do not
// collide, and the worker gets a bdr.yaml that Load accepts with secrets
// passed only by reference.

const composePath = "../docker-compose.yml"

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string    `yaml:"image"`
	Build       yaml.Node `yaml:"build"`
	Command     yaml.Node `yaml:"command"`
	DependsOn   yaml.Node `yaml:"depends_on"`  // list or map form
	Environment yaml.Node `yaml:"environment"` // map or "K=V" list form
	Ports       []yaml.Node
	Volumes     []yaml.Node
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(composePath)
	require.NoError(t, err)
	var f composeFile
	require.NoError(t, yaml.Unmarshal(b, &f))
	require.NotEmpty(t, f.Services)
	return f
}

// dependsOn returns the service names in either depends_on form.
func (s composeService) dependsOn(t *testing.T) []string {
	var out []string
	switch s.DependsOn.Kind {
	case 0:
	case yaml.SequenceNode:
		require.NoError(t, s.DependsOn.Decode(&out))
	case yaml.MappingNode:
		var m map[string]any
		require.NoError(t, s.DependsOn.Decode(&m))
		for k := range m {
			out = append(out, k)
		}
	default:
		t.Fatalf("depends_on: unexpected YAML node kind %v", s.DependsOn.Kind)
	}
	return out
}

// environment returns the service's environment in either form.
func (s composeService) environment(t *testing.T) map[string]string {
	out := map[string]string{}
	switch s.Environment.Kind {
	case 0:
	case yaml.MappingNode:
		require.NoError(t, s.Environment.Decode(&out))
	case yaml.SequenceNode:
		var list []string
		require.NoError(t, s.Environment.Decode(&list))
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	default:
		t.Fatalf("environment: unexpected YAML node kind %v", s.Environment.Kind)
	}
	return out
}

// publishedPorts returns the host ports a service publishes, in short
// ("[ip:]host:container[/proto]") or long ({published: …}) syntax.
func (s composeService) publishedPorts(t *testing.T) []string {
	var out []string
	for _, n := range s.Ports {
		switch n.Kind {
		case yaml.ScalarNode:
			spec, _, _ := strings.Cut(n.Value, "/")
			parts := strings.Split(spec, ":")
			if len(parts) >= 2 {
				out = append(out, parts[len(parts)-2])
			}
		case yaml.MappingNode:
			var m struct {
				Published any `yaml:"published"`
			}
			require.NoError(t, n.Decode(&m))
			if m.Published != nil {
				out = append(out, fmt.Sprint(m.Published))
			}
		}
	}
	return out
}

// mounts returns target -> source of bind mounts, in either syntax.
func (s composeService) mounts(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, n := range s.Volumes {
		switch n.Kind {
		case yaml.ScalarNode:
			parts := strings.Split(n.Value, ":")
			if len(parts) >= 2 {
				out[parts[1]] = parts[0]
			}
		case yaml.MappingNode:
			var m struct{ Source, Target string }
			require.NoError(t, n.Decode(&m))
			out[m.Target] = m.Source
		}
	}
	return out
}

// interpolate resolves s the way Compose would with none of the variables
// set: every ${NAME:-default} becomes its default.
func interpolate(s string) string {
	return regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}`).ReplaceAllString(s, "$1")
}

func TestComposeServices(t *testing.T) {
	f := loadCompose(t)
	for _, name := range []string{
		"temporal", "temporal-ui", "postgresql",
		"minio-primary", "minio-secondary", "createbuckets",
		"singlestore-primary", "singlestore-secondary", "worker",
	} {
		assert.Contains(t, f.Services, name, "service %s", name)
	}
	for name, s := range f.Services {
		for _, dep := range s.dependsOn(t) {
			assert.Contains(t, f.Services, dep, "%s depends_on unknown service %s", name, dep)
		}
		assert.True(t, s.Image != "" || s.Build.Kind != 0, "%s has neither image nor build", name)
	}
	assert.Equal(t, "temporal:7233", f.Services["temporal-ui"].environment(t)["TEMPORAL_ADDRESS"])
}

func TestComposeHostPortsDistinct(t *testing.T) {
	f := loadCompose(t)
	owner := map[string]string{}
	for name, s := range f.Services {
		for _, port := range s.publishedPorts(t) {
			if other, dup := owner[port]; dup {
				t.Errorf("host port %s published by both %s and %s", port, other, name)
			}
			owner[port] = name
		}
	}
	assert.Equal(t, "minio-primary", owner["9101"])
	assert.Equal(t, "minio-secondary", owner["9102"])
}

func TestComposeWorkerConfig(t *testing.T) {
	clearBDREnv(t)
	f := loadCompose(t)
	worker := f.Services["worker"]

	var command []string
	require.NoError(t, worker.Command.Decode(&command))
	assert.Equal(t, []string{"/bdr-worker", "--config", "/etc/bdr/bdr.yaml"}, command)
	target := command[slices.Index(command, "--config")+1]

	source, ok := worker.mounts(t)[target]
	require.True(t, ok, "worker mounts nothing at %s", target)
	hostPath := filepath.Join(filepath.Dir(composePath), source)
	_, err := os.Stat(hostPath)
	require.NoError(t, err, "the worker's config must exist in the repository")

	// The file names environment variables; set them as the container would.
	env := worker.environment(t)
	for k, v := range env {
		t.Setenv(k, interpolate(v))
	}
	c, err := config.Load(hostPath)
	require.NoError(t, err)

	var script []string
	cb := f.Services["createbuckets"]
	require.NoError(t, cb.Command.Decode(&script))
	createBuckets := interpolate(strings.Join(script, "\n"))

	for _, name := range c.RegionNames() {
		r := c.Regions[name]
		for _, ref := range []string{r.ObjectStore.AccessKeyIDEnv, r.ObjectStore.SecretAccessKeyEnv, r.Database.DSNEnv} {
			if ref != "" {
				assert.Contains(t, env, ref, "regions.%s references %s, which the worker's environment does not pass", name, ref)
			}
		}
		creds, err := r.ObjectStore.ResolveCredentials(os.Getenv)
		require.NoError(t, err, "region %s", name)

		// The endpoint must be a compose service, and the worker's keys for it
		// must be the ones that MinIO was started with.
		u, err := url.Parse(r.ObjectStore.Endpoint)
		require.NoError(t, err)
		store, ok := f.Services[u.Hostname()]
		require.True(t, ok, "regions.%s endpoint host %s is not a compose service", name, u.Hostname())
		storeEnv := store.environment(t)
		assert.Equal(t, interpolate(storeEnv["MINIO_ROOT_USER"]), creds.AccessKeyID, "region %s access key", name)
		assert.Equal(t, interpolate(storeEnv["MINIO_ROOT_PASSWORD"]), creds.SecretAccessKey, "region %s secret", name)
		assert.Contains(t, createBuckets, u.Hostname()+":", "createbuckets must reach %s", u.Hostname())
		assert.Contains(t, createBuckets, "/"+r.ObjectStore.Bucket, "createbuckets must create regions.%s bucket %s", name, r.ObjectStore.Bucket)
	}
	assert.Equal(t, "temporal", strings.Split(c.Temporal.Address, ":")[0])
	assert.Contains(t, f.Services, strings.Split(c.Temporal.Address, ":")[0])
}

// TestComposeWorkerSecretsByReference checks that every secret-looking
// variable of the worker is a reference to the operator's environment; the
// only literal allowed is a default marked demo-only.
func TestComposeWorkerSecretsByReference(t *testing.T) {
	f := loadCompose(t)
	// A whole value that is one Compose variable reference, optionally with
	// a default: ${NAME}, ${NAME:-default}, ${NAME-default}.
	interpolation := regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}$`)
	secretish := regexp.MustCompile(`(?i)key|secret|passw|token|dsn|license|credential`)
	checked := 0
	for k, v := range f.Services["worker"].environment(t) {
		if !secretish.MatchString(k) {
			continue
		}
		checked++
		m := interpolation.FindStringSubmatch(v)
		if !assert.NotNil(t, m, "worker environment %s must be a ${VAR} reference, not an inline value", k) {
			continue
		}
		if def := m[2]; def != "" {
			assert.Contains(t, def, "demo-only", "worker environment %s: an inline default must be marked demo-only", k)
		}
	}
	assert.Positive(t, checked, "the worker passes its credentials through environment:")
	var command []string
	worker := f.Services["worker"]
	require.NoError(t, worker.Command.Decode(&command))
	for _, arg := range command {
		assert.NotContains(t, arg, "demo-only", "no secret on the worker's command line")
	}
}
