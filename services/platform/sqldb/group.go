package sqldb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// GroupWriter applies changes in groups: the changes waiting when one
// transaction ends share the next one (group commit), each under a
// savepoint of its own, so each is still all or nothing while the commit —
// SQLite's WAL writes, PostgreSQL's round trips — is paid once per group.
// Under load many changes share a commit; alone, a change waits for none.
// T is what a change returns: Apply hands it back to the change's caller,
// and afterCommit gets those of each commit.
type GroupWriter[T any] struct {
	db    *DB
	stmts *Statements
	// afterCommit, when not nil, is handed the results of a group's
	// changes that committed (not those that failed), right after the
	// commit and before their callers get them.
	afterCommit func(results []T)
	// Separate runs each change in a transaction of its own, on its
	// caller's goroutine, concurrently with the others: for changes that
	// lock rows (SELECT … FOR UPDATE) where several instances share a
	// PostgreSQL. A group holds every change's locks until its commit, so
	// two instances' groups end up waiting on each other's rows — a
	// deadlock PostgreSQL breaks only after its deadlock_timeout (a
	// second), which under load is every group. Set it before the first
	// Apply.
	Separate bool
	// TxTimeout bounds each transaction the writer runs — waiting for a
	// connection, BEGIN, the changes, COMMIT — DefaultTxTimeout unless a
	// store sets it before the first Apply. Without it a link that
	// swallows bytes (TCP to a proxy that acknowledges and never answers)
	// holds the transaction, and everyone waiting on it, forever; with
	// it, it fails like any lost connection: its changes get an error
	// their callers retry (a COMMIT in doubt included, which they settle).
	// pgx ends a statement whose context ends by setting a deadline on
	// its net.Conn, so this holds on a connection that is not answering.
	TxTimeout time.Duration

	changes chan groupChange[T]
	// commitMu makes a separate change's commit and its afterCommit one
	// step, so results are handed over in commit order.
	commitMu sync.Mutex
	closed   chan struct{}
	done     chan struct{}
}

// MaxGroup bounds the changes of one transaction.
const MaxGroup = 256

// DefaultTxTimeout is a GroupWriter's TxTimeout unless a store sets one:
// far beyond any healthy transaction (a group of MaxGroup changes on a
// loaded machine), short enough that a client gets its answer and a
// consumer's readiness turns red while someone still watches.
const DefaultTxTimeout = 10 * time.Second

// The statements GroupWriter runs around each change, prepared with the
// store's own.
const (
	qSavepoint  = `SAVEPOINT one_change`
	qRollbackTo = `ROLLBACK TO SAVEPOINT one_change`
	qRelease    = `RELEASE SAVEPOINT one_change`
)

// Change is one change, applied in the group's transaction. Its result is
// handed to the writer's afterCommit and returned by Apply.
type Change[T any] func(ctx context.Context, tx Tx) (T, error)

type groupChange[T any] struct {
	ctx    context.Context // the caller's: done means do not begin
	change Change[T]
	reply  chan groupReply[T]
}

type groupReply[T any] struct {
	result T
	err    error
}

// NewGroupWriter prepares queries, the statements the changes run (with
// its own savepoints), and starts the writer of db. Prepare them now: the
// pure-Go SQLite spends a good share of its time parsing SQL otherwise, and
// with its one connection a transaction in progress leaves none free to
// prepare on. afterCommit (nil for none) is handed the results of each
// commit, in commit order (outbox.HandOver passes what they queued to the
// relay). Close the writer before db.
func NewGroupWriter[T any](ctx context.Context, db *DB, afterCommit func(results []T), queries ...string) (*GroupWriter[T], error) {
	stmts, err := db.Prepare(ctx, append([]string{qSavepoint, qRollbackTo, qRelease}, queries...)...)
	if err != nil {
		return nil, err
	}
	w := &GroupWriter[T]{db: db, stmts: stmts, afterCommit: afterCommit, TxTimeout: DefaultTxTimeout,
		changes: make(chan groupChange[T]), closed: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w, nil
}

// Apply applies change and returns once its group committed (or failed).
// A change that returns an error is rolled back alone; a group whose
// transaction fails to begin or commit fails every change in it. A change
// whose ctx is done before it begins is not applied and Apply returns
// ctx's error: its caller gave up on it (a consumer's drain, a client gone),
// and a consumer then runs none of that key's later records either, which
// is what keeps a key's changes in order.
func (w *GroupWriter[T]) Apply(ctx context.Context, change Change[T]) (T, error) {
	var none T
	// Checked first and on its own: a select would pick at random between
	// a done ctx and a writer ready to take the change.
	if err := ctx.Err(); err != nil {
		return none, err
	}
	if w.Separate {
		select {
		case <-w.closed:
			return none, errors.New("store closed")
		default:
		}
		return w.applyAlone(ctx, change)
	}
	req := groupChange[T]{ctx: ctx, change: change, reply: make(chan groupReply[T], 1)}
	select {
	case w.changes <- req:
	case <-w.closed:
		return none, errors.New("store closed")
	case <-ctx.Done():
		return none, ctx.Err()
	}
	// Once handed over, wait for the verdict even if ctx ends: the caller
	// must not act on a guess about the commit.
	r := <-req.reply
	return r.result, r.err
}

// ApplyAgainOnDuplicate is Apply, and Apply again while the change fails on
// a duplicate key, three tries in all: another transaction inserted the
// same row first (instances sharing PostgreSQL racing on one order or one
// key), and the next try finds the row the winner inserted.
func (w *GroupWriter[T]) ApplyAgainOnDuplicate(ctx context.Context, change Change[T]) (T, error) {
	for attempt := 1; ; attempt++ {
		r, err := w.Apply(ctx, change)
		if err == nil || !UniqueViolation(err) || attempt == 3 {
			return r, err
		}
	}
}

// Close stops the writer once the group in progress is done, and releases
// its statements.
func (w *GroupWriter[T]) Close() {
	close(w.closed)
	<-w.done
	w.stmts.Close()
}

func (w *GroupWriter[T]) run() {
	defer close(w.done)
	for {
		var group []groupChange[T]
		select {
		case req := <-w.changes:
			group = append(group, req)
		case <-w.closed:
			return
		}
	more:
		for len(group) < MaxGroup {
			select {
			case req := <-w.changes:
				group = append(group, req)
			default:
				break more
			}
		}
		w.apply(group)
	}
}

func (w *GroupWriter[T]) apply(group []groupChange[T]) {
	replies := make([]groupReply[T], len(group))
	fail := func(err error) {
		for _, req := range group {
			req.reply <- groupReply[T]{err: err}
		}
	}
	// Not a change's own ctx, which may end: the group must finish, or
	// fail as one when the database does not answer in time.
	ctx, cancel := w.txContext()
	defer cancel()
	sqlTx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return
	}
	defer sqlTx.Rollback()
	tx := w.stmts.In(sqlTx)
	stmtCtx := w.statementContext(ctx)
	// A change alone in its group (most of them, below a few hundred per
	// second) needs no savepoint: the transaction is its own, and is
	// rolled back whole when it fails. Two statements fewer per change.
	alone := len(group) == 1
	for i, req := range group {
		r := &replies[i]
		if err := req.ctx.Err(); err != nil {
			r.err = err // ended while waiting for its group: never begun
			continue
		}
		if alone {
			r.result, r.err = req.change(stmtCtx, tx)
			continue
		}
		if _, err := tx.ExecContext(stmtCtx, qSavepoint); err != nil {
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		r.result, r.err = req.change(stmtCtx, tx)
		if r.err != nil {
			if _, err := tx.ExecContext(stmtCtx, qRollbackTo); err != nil {
				fail(fmt.Errorf("roll back one change: %w", err))
				return
			}
		}
		if _, err := tx.ExecContext(stmtCtx, qRelease); err != nil {
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if alone && replies[0].err != nil {
		// Nothing to commit or hand over: the deferred rollback undoes it.
		group[0].reply <- replies[0]
		return
	}
	if err := sqlTx.Commit(); err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	if w.afterCommit != nil {
		var committed []T
		for _, r := range replies {
			if r.err == nil {
				committed = append(committed, r.result)
			}
		}
		w.afterCommit(committed)
	}
	for i, req := range group {
		req.reply <- replies[i]
	}
}

// applyAlone applies one change in a transaction of its own, unless
// the caller's context ends before it begins.
func (w *GroupWriter[T]) applyAlone(caller context.Context, change Change[T]) (T, error) {
	var none T
	ctx, cancel := w.txContext() // as in a group: once begun, the change finishes or times out
	defer cancel()
	sqlTx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return none, fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	// Beginning may have waited for the database (SQLite's one writer).
	if err := caller.Err(); err != nil {
		return none, err
	}
	result, err := change(w.statementContext(ctx), w.stmts.In(sqlTx))
	if err != nil {
		return none, err
	}
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	if err := sqlTx.Commit(); err != nil {
		return none, fmt.Errorf("commit: %w", err)
	}
	if w.afterCommit != nil {
		w.afterCommit([]T{result})
	}
	return result, nil
}

// statementContext is what the statements of a transaction begun with ctx
// run with. On PostgreSQL it is ctx: pgx ends a statement whose context ends
// by setting a deadline on its connection, the only way out of a link that
// stopped answering. On SQLite it is ctx without its end: modernc's driver
// starts a goroutine (with a channel, a closure and a progress handler) for
// every statement whose context can end, a tenth of orders-api's
// allocations, to interrupt a statement that runs on past it — which the
// kit's point inserts and lookups on a local file never do. The timeout
// still bounds the transaction: database/sql rolls back a transaction whose
// BeginTx context ended (once the statement in progress returns), so the
// next statement and the COMMIT fail with sql.ErrTxDone; and a lock wait
// ends at the busy timeout, shorter than DefaultTxTimeout.
func (w *GroupWriter[T]) statementContext(ctx context.Context) context.Context {
	if w.db.Dialect == SQLite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// txContext is the context of one transaction: TxTimeout from now.
func (w *GroupWriter[T]) txContext() (context.Context, context.CancelFunc) {
	timeout := w.TxTimeout
	if timeout <= 0 {
		timeout = DefaultTxTimeout
	}
	return context.WithTimeout(context.Background(), timeout)
}
