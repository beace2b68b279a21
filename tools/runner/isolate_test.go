package runner

import (
	"context"
	"strings"
	"testing"
)

func TestIsolateNeedsNothingOnEmbedded(t *testing.T) {
	iso, err := Isolate(context.Background(), "embedded", "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(iso.Vars) != 0 {
		t.Errorf("vars %v, want none", iso.Vars)
	}
	if err := iso.Close(); err != nil {
		t.Error(err)
	}
	if err := iso.Close(); err != nil {
		t.Error("second Close:", err)
	}
}

func TestIsolateRefusesWhatItCannotKeepApart(t *testing.T) {
	for _, c := range []struct{ profile, owner, want string }{
		{"kafka", "test", `no isolation known for profile "kafka"`},
		{"embedded", "", "isolation owner"},
		{"embedded", "e2e; DROP", "isolation owner"},
		{"embedded", "Bench", "isolation owner"},
	} {
		_, err := Isolate(context.Background(), c.profile, c.owner)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Isolate(%q, %q) = %v, want an error with %q", c.profile, c.owner, err, c.want)
		}
	}
}
