package clients

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/config"
)

// TestValidateDSNs: only regions with a read-only DSN are in the map, each with its own DSN
// (never the main one); an unset variable is an error naming the region and the key, not a
// value.
func TestValidateDSNs(t *testing.T) {
	t.Setenv("BDR_TEST_DSN", "root:root-pw@tcp(db:3306)/")
	t.Setenv("BDR_TEST_RO_DSN", "reader:reader-pw@tcp(db:3306)/")
	cfg := config.Default()
	cfg.Regions = map[string]config.Region{
		"primary":   {Database: config.DatabaseConn{DSNEnv: "BDR_TEST_DSN", ValidateDSNEnv: "BDR_TEST_RO_DSN"}},
		"secondary": {Database: config.DatabaseConn{DSNEnv: "BDR_TEST_DSN"}},
		"third":     {},
	}
	got, err := ValidateDSNs(&cfg)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"primary": "reader:reader-pw@tcp(db:3306)/"}, got)
	dsns, err := DSNs(&cfg)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"primary": "root:root-pw@tcp(db:3306)/", "secondary": "root:root-pw@tcp(db:3306)/"}, dsns)

	cfg.Regions["secondary"] = config.Region{Database: config.DatabaseConn{DSNEnv: "BDR_TEST_DSN", ValidateDSNEnv: "BDR_TEST_UNSET_RO_DSN"}}
	_, err = ValidateDSNs(&cfg)
	require.EqualError(t, err, "regions.secondary.database: config: database.validate_dsn_env: environment variable BDR_TEST_UNSET_RO_DSN is empty or not set")
}
