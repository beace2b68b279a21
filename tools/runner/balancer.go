package runner

import "strconv"

// startBalancers puts a relay in front of the public ports of every app
// that runs several instances (proxy.go).
func (s *System) startBalancers() error {
	targets := map[string][]string{}
	for _, a := range s.apps {
		if a.publicPort > 0 {
			targets[a.AppID] = append(targets[a.AppID], "127.0.0.1:"+strconv.Itoa(a.publicPort))
		}
	}
	for id, t := range targets {
		if len(t) < 2 {
			continue
		}
		b, err := startRelay(t...)
		if err != nil {
			return err
		}
		s.balancers[id] = b
		s.opts.Logf("%s: %d instances behind %s", id, len(t), b.addr)
	}
	return nil
}
