package main

// waiters wakes the streams waiting on one source of news. A wake never
// blocks the caller: each waiter's channel holds at most one pending wake,
// and the stream reads everything new when it runs, so a slow client can
// neither block the consumer nor miss an event.
type waiters map[chan struct{}]struct{}

func (w waiters) add() chan struct{} {
	c := make(chan struct{}, 1)
	w[c] = struct{}{}
	return c
}

func (w waiters) wake() {
	for c := range w {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
