package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kafkakit/kit/services/platform/sqldb"
)

// notifyChannel is the PostgreSQL channel a commit that queued records
// notifies, so the relay leading among several instances wakes at once for
// records another instance committed.
const notifyChannel = "kafkakit_outbox"

// leaseKey is the advisory lock the leading relay holds. Advisory locks are
// per database, and each service has a database of its own.
const leaseKey = 0x6b61666b61 // "kafka"

// lease says whether this instance's relay may produce. With SQLite there is
// one instance per database file and it always may. With PostgreSQL,
// several instances share the outbox, and if each relayed it they would send
// the same rows twice and out of order: the one holding a session-level
// advisory lock relays, the others stand by and take over when its session
// ends (its process died, its connection broke).
//
// Holding the lock is not enough: a session can end without its client
// noticing for a while (a connection cut on the way, the server ending it),
// and another instance then takes the lock and relays too. So the relay
// confirms the lease with the server before each produce call (confirm) and
// stops at once when it is gone; it never starts a produce without a
// lease PostgreSQL has just confirmed. What stays possible is a duplicate,
// never two leaders producing side by side for more than one call: a
// produce already in flight when the session ends is delivered (kafka-go
// cannot take it back) and the next leader, which finds its rows not yet
// deleted, sends them again — as after a crash between the acknowledgement
// and the delete. The consumers' idempotence absorbs both.
type lease struct {
	held atomic.Bool
	pid  atomic.Int32 // the lease session's backend process, while held

	mu  sync.Mutex
	end context.CancelFunc // ends hold once the lease is found lost
}

func (l *lease) leading() bool { return l.held.Load() }

// errLeaseLost says that another session holds the lease, or none does.
var errLeaseLost = errors.New("outbox lease lost: another instance leads")

// leaseCheckTimeout bounds confirm: a server that cannot say within it
// whether this instance leads is taken as "not sure", and nothing is sent.
const leaseCheckTimeout = 2 * time.Second

// confirm asks PostgreSQL whether the lease session still holds the lock.
// It returns errLeaseLost (and gives the lease up) when it does not, and
// another error when the server cannot say; SQLite's lease always holds.
func (l *lease) confirm(ctx context.Context, db *sqldb.DB) error {
	if db.Dialect != sqldb.Postgres {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseCheckTimeout)
	defer cancel()
	var holds bool
	// A bigint advisory key shows as its high half in classid and its low
	// half in objid, with objsubid 1.
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND pid = $1 AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $2)`, l.pid.Load(), int64(leaseKey)).Scan(&holds); err != nil {
		return fmt.Errorf("confirm the outbox lease: %w", err)
	}
	if !holds {
		l.lost()
		return errLeaseLost
	}
	return nil
}

// lost gives the lease up at once and ends its session, which run then
// tries to take again.
func (l *lease) lost() {
	l.held.Store(false)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.end != nil {
		l.end()
	}
}

// run keeps trying to take the lease and, while it holds it, listens for
// commits of other instances and kicks the relay. It returns when ctx ends.
func (l *lease) run(ctx context.Context, db *sqldb.DB, r *Relay) {
	if db.Dialect != sqldb.Postgres {
		return // held from the start: see NewRelay
	}
	pause := r.RetryMin
	for ctx.Err() == nil {
		err := l.hold(ctx, db, r)
		l.held.Store(false)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.log.Warn("outbox lease lost; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(pause*2, r.RetryMax)
	}
}

// hold takes a connection of its own, waits for the advisory lock, then
// listens on it until ctx ends or the connection fails.
func (l *lease) hold(ctx context.Context, db *sqldb.DB, r *Relay) error {
	ctx, end := context.WithCancel(ctx)
	defer end()
	l.mu.Lock()
	l.end = end
	l.mu.Unlock()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connection for the outbox lease: %w", err)
	}
	defer conn.Close()
	standby := time.NewTicker(time.Second)
	defer standby.Stop()
	for {
		var got bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, leaseKey).Scan(&got); err != nil {
			return fmt.Errorf("take the outbox lease: %w", err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-standby.C:
		}
	}
	defer func() {
		// Not leading before the lock is given back, so that this relay
		// never produces while another instance may hold it. A live
		// session gives the lock back; a dead one already has.
		l.held.Store(false)
		unlock, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = conn.ExecContext(unlock, `SELECT pg_advisory_unlock($1)`, leaseKey)
	}()
	var pid int32
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		return fmt.Errorf("outbox lease session: %w", err)
	}
	l.pid.Store(pid)
	if _, err := conn.ExecContext(ctx, `LISTEN `+notifyChannel); err != nil {
		return fmt.Errorf("listen for outbox commits: %w", err)
	}
	l.held.Store(true)
	r.log.Info("outbox relay leads: this instance produces the shared outbox")
	r.Kick() // what the previous leader left
	return conn.Raw(func(driverConn any) error {
		pc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("outbox lease: unexpected driver connection %T", driverConn)
		}
		for {
			// A bounded wait also notices a broken session within seconds.
			wait, cancel := context.WithTimeout(ctx, 5*time.Second)
			n, err := pc.Conn().WaitForNotification(wait)
			cancel()
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, context.DeadlineExceeded):
				// Bounded too: a connection cut on the way answers nothing.
				ping, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := pc.Conn().Ping(ping)
				cancel()
				if err != nil && ctx.Err() == nil {
					return fmt.Errorf("outbox lease connection: %w", err)
				}
			case err != nil:
				return fmt.Errorf("wait for outbox commits: %w", err)
			case n.Payload == r.outbox.id:
				// This instance's own commit: Committed handed it over
				// already, or it committed before this relay led, and the
				// Kick above reads it.
			default:
				r.Kick()
			}
		}
	})
}

// notifyQuery wakes the leading relay when the transaction that queued
// records commits (PostgreSQL delivers notifications on commit, once per
// transaction for one payload). The payload is the committing outbox's id,
// so the leader does not read back the table for its own commits.
const notifyQuery = `SELECT pg_notify('` + notifyChannel + `', $1)`
