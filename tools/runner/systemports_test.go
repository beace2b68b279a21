package runner

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSystemPortsListEveryPortGivenOut: gateway is told every port of the
// system, so that a webhook allowed to the loopback reaches none of them.
func TestSystemPortsListEveryPortGivenOut(t *testing.T) {
	a := &appRun{App: App{AppID: "gateway", AppPort: 20001, DaprHTTPPort: 20002, DaprGRPCPort: 20003, MetricsPort: 20004},
		internalPort: 20005, publicPort: 20006}
	b := &appRun{App: App{AppID: "sms", AppPort: 20011, DaprHTTPPort: 20012, DaprGRPCPort: 20013, MetricsPort: 20014}, internalPort: 20015}
	s := &System{apps: []*appRun{a, b}, servers: []*backend{{addr: "127.0.0.1:6379"}},
		balancers: map[string]*relay{"gateway": {addr: "127.0.0.1:20020"}}}
	assert.Equal(t, "20001,20002,20003,20004,20005,20006,20011,20012,20013,20014,20015,6379,20020,3500-3514",
		s.systemPorts(" 3500-3514 "))
}
