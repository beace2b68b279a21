package service

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// LoadEnv treats an empty variable as unset, and is stricter than envconfig:
// counts are at least 1 and bools are "true" or "false".
func LoadEnv(getenv func(string) string, cfg any) error {
	types, fields := envFields(reflect.TypeOf(cfg).Elem())
	var last string
	lookup := envconfig.LookuperFunc(func(key string) (string, bool) {
		last = key
		v := getenv(key)
		return v, v != ""
	})
	check := envconfig.MutatorFunc(func(_ context.Context, key, _, _, v string) (string, bool, error) {
		return checkEnv(key, types[key], v)
	})
	err := envconfig.ProcessWith(context.Background(), &envconfig.Config{
		Target: cfg, Lookuper: lookup, Mutators: []envconfig.Mutator{check},
	})
	if err == nil {
		return nil
	}
	// envconfig names the Go fields; the variable is what an operator sets.
	for inner := errors.Unwrap(err); inner != nil; inner = errors.Unwrap(err) {
		name, _, _ := strings.Cut(err.Error(), ": ")
		if !fields[name] {
			break
		}
		err = inner
	}
	return fmt.Errorf("%s: %w", last, err)
}

func envFields(t reflect.Type) (map[string]reflect.Type, map[string]bool) {
	types, fields := map[string]reflect.Type{}, map[string]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			fields[f.Name] = true
			tag := f.Tag.Get("env")
			if f.Type.Kind() == reflect.Struct && tag == "" {
				walk(f.Type)
				continue
			}
			key, _, _ := strings.Cut(tag, ",")
			types[strings.TrimSpace(key)] = f.Type
		}
	}
	walk(t)
	return types, fields
}

var durations = reflect.TypeFor[[]time.Duration]()

func checkEnv(key string, t reflect.Type, v string) (string, bool, error) {
	switch {
	case key == "TRACING_SAMPLING_RATE":
		if f, err := strconv.ParseFloat(v, 64); err != nil || f < 0 || f > 1 {
			return "", true, fmt.Errorf("must be a number from 0 to 1, not %q", v)
		}
	case t == nil:
	case t.Kind() == reflect.Int:
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return "", true, fmt.Errorf("must be a whole number of at least 1, not %q", v)
		}
		// envconfig would read "010" as octal.
		return strconv.Itoa(n), false, nil
	case t.Kind() == reflect.Bool:
		if v != "true" && v != "false" {
			return "", true, fmt.Errorf("%q is neither true nor false", v)
		}
	case t == durations:
		for _, s := range strings.Split(v, ",") {
			if d, err := time.ParseDuration(strings.TrimSpace(s)); err != nil || d <= 0 {
				return "", true, fmt.Errorf("%q is not a positive duration", s)
			}
		}
	}
	return v, false, nil
}
