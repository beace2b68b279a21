package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Isolation is one system's own space on the shared servers a profile
// uses: a Redis database, a PostgreSQL database, a RabbitMQ vhost. Systems
// that each take one (test runs, benchmarks) never see each other's keys,
// tables or queues, nor what `make run` left behind.
//
// The servers are the ones the profile's components point at, found as the
// runner finds them: REDIS_HOST, REDIS_PASSWORD, POSTGRES_HOST,
// POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD and RABBITMQ_USER from
// the environment, each with the components' default.
type Isolation struct {
	// Vars point the profile's placeholders (components/<profile>) at the
	// space: REDIS_DB, POSTGRES_DATABASE and RABBITMQ_VHOST, as the profile
	// needs. Pass them as Options.Vars; the caller may add its own.
	Vars map[string]string

	mu      sync.Mutex
	cleanup []func() error
}

// ownerName is what Isolate accepts as owner: it ends up in a database
// name and a vhost name unquoted.
var ownerName = regexp.MustCompile(`^[a-z][a-z0-9]{0,19}$`)

// Isolate takes a space of its own on the servers profile uses, empty, for
// one system; Close removes it with everything in it. Call Close after the
// system has stopped, on every path (it is safe to call more than once, and
// from another goroutine, such as a signal handler).
//
// owner (lower-case letters and digits, "e2e", "bench") names what the
// space is for: databases are vouchers_<owner>_<random>, vhosts
// vouchers-<owner>-<random>, so one left behind by a killed run says whose
// it was. ctx bounds the setting up, not Close.
//
// Per profile:
//   - embedded, and kafka on the runner's own broker: nothing to share, no
//     Vars.
//   - redis: a free numbered database, 1 to 14 (0 is `make run`'s, 15
//     `make bench`'s), marked taken by a key in database 0 that expires
//     after 3 hours if the run dies, emptied before and after.
//   - postgres-rabbitmq: a new PostgreSQL database (CREATE DATABASE, so the
//     user needs CREATEDB), dropped after; a new RabbitMQ vhost with the
//     user's permissions on it, deleted after (exchanges and queues are
//     named after topics and apps, so systems sharing a vhost would take
//     each other's events). AMQP cannot create vhosts: this runs
//     rabbitmqctl, so it must run on the broker's host.
//
// Any other profile is an error: teach this function how to keep its
// systems apart.
func Isolate(ctx context.Context, profile, owner string) (*Isolation, error) {
	if !ownerName.MatchString(owner) {
		return nil, fmt.Errorf("isolation owner %q: want 1-20 lower-case letters and digits, starting with a letter", owner)
	}
	iso := &Isolation{Vars: map[string]string{}}
	var steps []func(*Isolation, context.Context, string) error
	switch profile {
	case "embedded":
	case "kafka":
		// The runner's own broker, one per system. A team's cluster
		// (KAFKA_BROKERS) has one set of topics and consumer groups,
		// named in the components, which two systems would share.
		if os.Getenv("KAFKA_BROKERS") != "" {
			return nil, errors.New("no isolation on a shared Kafka (KAFKA_BROKERS is set): every system would use the same topics and consumer groups; unset it to run on the runner's own broker")
		}
	case "redis":
		steps = append(steps, (*Isolation).redisDB)
	case "postgres-rabbitmq":
		steps = append(steps, (*Isolation).postgresDatabase, (*Isolation).rabbitVhost)
	default:
		return nil, fmt.Errorf("no isolation known for profile %q: teach tools/runner/isolate.go how to keep its systems apart", profile)
	}
	for _, step := range steps {
		if err := step(iso, ctx, owner); err != nil {
			if cerr := iso.Close(); cerr != nil {
				err = fmt.Errorf("%w (and %v)", err, cerr)
			}
			return nil, err
		}
	}
	return iso, nil
}

// Close removes the space, newest part first, and reports every part it
// could not remove. Later calls do nothing.
func (iso *Isolation) Close() error {
	iso.mu.Lock()
	cleanup := iso.cleanup
	iso.cleanup = nil
	iso.mu.Unlock()
	var errs []string
	for i := len(cleanup) - 1; i >= 0; i-- {
		if err := cleanup[i](); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cleaning the shared servers: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (iso *Isolation) onClose(f func() error) {
	iso.mu.Lock()
	iso.cleanup = append(iso.cleanup, f)
	iso.mu.Unlock()
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func envOr(name, def string) string { return orDefault(os.Getenv(name), def) }

// redisDBLock is the key in database 0 that marks database n taken. Its
// name predates this package (e2e's own isolation used it) and stays, so
// runs of older checkouts and of this one keep out of each other's way.
func redisDBLock(n int) string { return fmt.Sprintf("vouchers:e2e:redis-db:%d", n) }

func (iso *Isolation) redisDB(ctx context.Context, owner string) error {
	addr, password := envOr("REDIS_HOST", "127.0.0.1:6379"), os.Getenv("REDIS_PASSWORD")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	admin := redis.NewClient(&redis.Options{Addr: addr, Password: password})
	defer admin.Close()
	holder := fmt.Sprintf("%s-%d-%s", owner, os.Getpid(), randomID())
	for db := 1; db < 15; db++ {
		lock := redisDBLock(db)
		ok, err := admin.SetNX(ctx, lock, holder, 3*time.Hour).Result()
		if err != nil {
			return fmt.Errorf("redis at %s: %w", addr, err)
		}
		if !ok {
			continue
		}
		flush := func(ctx context.Context) error {
			c := redis.NewClient(&redis.Options{Addr: addr, Password: password, DB: db})
			defer c.Close()
			if err := c.FlushDB(ctx).Err(); err != nil {
				return fmt.Errorf("redis at %s: emptying database %d: %w", addr, db, err)
			}
			return nil
		}
		iso.onClose(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := flush(ctx)
			c := redis.NewClient(&redis.Options{Addr: addr, Password: password})
			defer c.Close()
			return errors.Join(err, c.Del(ctx, lock).Err())
		})
		if err := flush(ctx); err != nil {
			return err
		}
		iso.Vars["REDIS_DB"] = fmt.Sprint(db)
		return nil
	}
	return fmt.Errorf("redis at %s: databases 1-14 are all taken by other runs (keys vouchers:e2e:redis-db:N in database 0)", addr)
}

func (iso *Isolation) postgresDatabase(ctx context.Context, owner string) error {
	host, port := envOr("POSTGRES_HOST", "127.0.0.1"), envOr("POSTGRES_PORT", "5432")
	// The components' connection string, on the maintenance database.
	conn := fmt.Sprintf("host=%s port=%s user=%s password='%s' dbname=postgres connect_timeout=5",
		host, port, envOr("POSTGRES_USER", "postgres"), os.Getenv("POSTGRES_PASSWORD"))
	name := "vouchers_" + owner + "_" + randomID()
	exec := func(ctx context.Context, sql string) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, conn)
		if err != nil {
			return fmt.Errorf("postgresql at %s:%s: %w", host, port, err)
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, sql); err != nil {
			return fmt.Errorf("postgresql at %s:%s: %s: %w", host, port, sql, err)
		}
		return nil
	}
	if err := exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	iso.onClose(func() error { return exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	iso.Vars["POSTGRES_DATABASE"] = name
	return nil
}

func (iso *Isolation) rabbitVhost(ctx context.Context, owner string) error {
	vhost := "vouchers-" + owner + "-" + randomID()
	user := envOr("RABBITMQ_USER", "guest")
	ctl := func(ctx context.Context, args ...string) error {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput()
		if err != nil {
			if out := strings.TrimSpace(string(out)); out != "" {
				err = fmt.Errorf("%w: %s", err, out)
			}
			return fmt.Errorf("rabbitmqctl %s: %w", strings.Join(args, " "), err)
		}
		return nil
	}
	if err := ctl(ctx, "add_vhost", vhost); err != nil {
		return err
	}
	iso.onClose(func() error { return ctl(context.Background(), "delete_vhost", vhost) })
	if err := ctl(ctx, "set_permissions", "-p", vhost, user, ".*", ".*", ".*"); err != nil {
		return err
	}
	iso.Vars["RABBITMQ_VHOST"] = vhost
	return nil
}
