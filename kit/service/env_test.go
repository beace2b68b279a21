package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/testkit"
)

type testEnv struct {
	Wait     time.Duration   `env:"WAIT, default=3s"`
	Workers  int             `env:"WORKERS, default=5"`
	Rate     float64         `env:"TRACING_SAMPLING_RATE, default=0"`
	Open     bool            `env:"OPEN"`
	Schedule []time.Duration `env:"SCHEDULE, default=1s,5s"`
	Sidecar  Sidecar
}

func TestLoadEnvReadsValuesAndDefaults(t *testing.T) {
	var c testEnv
	require.NoError(t, LoadEnv(testkit.Env(map[string]string{
		"WAIT": "250ms", "WORKERS": "07", "TRACING_SAMPLING_RATE": "0.25", "OPEN": "true",
		"SCHEDULE": "1s, 2m", "DAPR_HTTP_PORT": "3500", "DAPR_API_TOKEN": "t",
	}), &c))
	assert.Equal(t, testEnv{Wait: 250 * time.Millisecond, Workers: 7, Rate: 0.25, Open: true,
		Schedule: []time.Duration{time.Second, 2 * time.Minute}, Sidecar: Sidecar{HTTPPort: "3500", Token: "t"}}, c)

	c = testEnv{}
	require.NoError(t, LoadEnv(testkit.Env(map[string]string{"WAIT": ""}), &c), "empty is unset")
	assert.Equal(t, testEnv{Wait: 3 * time.Second, Workers: 5, Schedule: []time.Duration{time.Second, 5 * time.Second}}, c)
}

func TestLoadEnvNamesTheBadVariable(t *testing.T) {
	for name, bad := range map[string]string{
		"WAIT":                  "soon",
		"WORKERS":               "0",
		"TRACING_SAMPLING_RATE": "2",
		"OPEN":                  "yes",
		"SCHEDULE":              "1s,0s",
	} {
		for _, v := range []string{bad, "many"} {
			err := LoadEnv(testkit.Env(map[string]string{name: v}), &testEnv{})
			assert.ErrorContains(t, err, name+": ", "%s=%s", name, v)
			assert.NotContains(t, err.Error(), "Workers", "the Go field's name")
		}
	}
	err := LoadEnv(testkit.Env(map[string]string{"WORKERS": "many"}), &testEnv{})
	assert.EqualError(t, err, `WORKERS: must be a whole number of at least 1, not "many"`)
	err = LoadEnv(testkit.Env(map[string]string{"WAIT": "soon"}), &testEnv{})
	assert.EqualError(t, err, `WAIT: time: invalid duration "soon"`)
}
