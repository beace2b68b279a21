package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// profile is the component profile the suite runs on (E2E_PROFILE, default
// embedded).
func profile() string {
	if p := os.Getenv("E2E_PROFILE"); p != "" {
		return p
	}
	return "embedded"
}

// isolation gives one system its own space on the shared servers a profile
// uses (a Redis DB, a PostgreSQL database, a RabbitMQ vhost), so test runs
// never see each other's keys, tables or queues, and removes that space
// afterwards. vars fill the profile's placeholders (components/<profile>).
type isolation struct {
	vars    map[string]string
	cleanup []func() error
}

func (iso *isolation) close() error {
	var errs []string
	for i := len(iso.cleanup) - 1; i >= 0; i-- {
		if err := iso.cleanup[i](); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cleaning the shared servers: %s", strings.Join(errs, "; "))
	}
	return nil
}

func isolate(profile string) (*isolation, error) {
	iso := &isolation{vars: map[string]string{}}
	var steps []func(*isolation) error
	switch profile {
	case "embedded":
	case "redis":
		steps = append(steps, (*isolation).redisDB)
	case "postgres-rabbitmq":
		steps = append(steps, (*isolation).postgresDatabase, (*isolation).rabbitVhost)
	default:
		return nil, fmt.Errorf("no isolation known for profile %q: teach e2e/profiles_test.go how to keep its runs apart", profile)
	}
	for _, step := range steps {
		if err := step(iso); err != nil {
			_ = iso.close()
			return nil, err
		}
	}
	return iso, nil
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// redisDB takes a free numbered database (1-14; 0 is `make run`'s, 15 `make bench`'s), marked
// as taken by a key in database 0 that expires if a run dies, and empties
// it before and after.
func (iso *isolation) redisDB() error {
	addr := envOr("REDIS_HOST", "127.0.0.1:6379")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := redis.NewClient(&redis.Options{Addr: addr, Password: os.Getenv("REDIS_PASSWORD")})
	defer admin.Close()
	owner := fmt.Sprintf("e2e-%d-%s", os.Getpid(), runID())
	for db := 1; db < 15; db++ {
		lock := fmt.Sprintf("vouchers:e2e:redis-db:%d", db)
		ok, err := admin.SetNX(ctx, lock, owner, 3*time.Hour).Result()
		if err != nil {
			return fmt.Errorf("redis at %s: %w", addr, err)
		}
		if !ok {
			continue
		}
		flush := func() error {
			c := redis.NewClient(&redis.Options{Addr: addr, Password: os.Getenv("REDIS_PASSWORD"), DB: db})
			defer c.Close()
			return c.FlushDB(context.Background()).Err()
		}
		if err := flush(); err != nil {
			return err
		}
		iso.vars["REDIS_DB"] = fmt.Sprint(db)
		iso.cleanup = append(iso.cleanup, func() error {
			if err := flush(); err != nil {
				return err
			}
			c := redis.NewClient(&redis.Options{Addr: addr, Password: os.Getenv("REDIS_PASSWORD")})
			defer c.Close()
			return c.Del(context.Background(), lock).Err()
		})
		return nil
	}
	return fmt.Errorf("redis at %s: databases 1-14 are all taken by other test runs", addr)
}

// postgresDatabase creates a database for this run and drops it after.
func (iso *isolation) postgresDatabase() error {
	conn := fmt.Sprintf("host=%s port=%s user=%s password='%s' dbname=postgres connect_timeout=5",
		envOr("POSTGRES_HOST", "127.0.0.1"), envOr("POSTGRES_PORT", "5432"), envOr("POSTGRES_USER", "postgres"), os.Getenv("POSTGRES_PASSWORD"))
	name := "vouchers_e2e_" + runID()
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, conn)
		if err != nil {
			return fmt.Errorf("postgresql: %w", err)
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		return err
	}
	iso.vars["POSTGRES_DATABASE"] = name
	iso.cleanup = append(iso.cleanup, func() error { return exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	return nil
}

// rabbitVhost creates a vhost for this run (exchanges and queues are named
// after topics and apps, so runs sharing a vhost would take each other's
// events) and deletes it, with everything in it, after. AMQP cannot create
// vhosts: this uses rabbitmqctl, so the tests run on the broker's host.
func (iso *isolation) rabbitVhost() error {
	vhost := "vouchers-e2e-" + runID()
	user := envOr("RABBITMQ_USER", "guest")
	ctl := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := ctl("add_vhost", vhost); err != nil {
		return err
	}
	iso.cleanup = append(iso.cleanup, func() error { return ctl("delete_vhost", vhost) })
	if err := ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*"); err != nil {
		return err
	}
	iso.vars["RABBITMQ_VHOST"] = vhost
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
