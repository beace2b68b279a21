package e2e

import (
	"context"
	"os"
	"strconv"

	"github.com/bankabc/vouchers/tools/runner"
)

// profile is the component profile the suite runs on (E2E_PROFILE, default
// embedded).
// replicas is how many instances of each service the suites run
// (E2E_REPLICAS, default 1): with 2, every service but the provider fake
// runs twice, each instance beside its own daprd, gateway's public port
// behind the runner's round-robin balancer (runner.Options.Replicas).
func replicas() int {
	n, _ := strconv.Atoi(os.Getenv("E2E_REPLICAS"))
	return max(n, 1)
}

func profile() string {
	if p := os.Getenv("E2E_PROFILE"); p != "" {
		return p
	}
	return "embedded"
}

// isolation is one system's own space on the shared servers the suite's
// profile uses (a Redis DB, a PostgreSQL database, a RabbitMQ vhost; see
// runner.Isolate), so test runs never see each other's keys, tables or
// queues. vars fill the profile's placeholders (components/<profile>);
// close removes the space after the system has stopped.
type isolation struct {
	vars  map[string]string
	close func() error
}

func isolate(profile string) (*isolation, error) {
	iso, err := runner.Isolate(context.Background(), profile, "e2e")
	if err != nil {
		return nil, err
	}
	return &isolation{vars: iso.Vars, close: iso.Close}, nil
}
