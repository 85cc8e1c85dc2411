// Package replay holds what the recorded-shape API servers of the tests
// (quandltest, fredtest) share: canned answers queued per series, served
// before the recorded data, and the log of requests received.
package replay

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
)

// Response is one canned answer, served instead of the recorded data.
type Response struct {
	Status     int
	RetryAfter string // Retry-After header, if any
	Body       string
}

// Write sends r as a JSON answer.
func (r Response) Write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.RetryAfter != "" {
		w.Header().Set("Retry-After", r.RetryAfter)
	}
	w.WriteHeader(r.Status)
	fmt.Fprint(w, r.Body)
}

// Log is the queue of canned answers, per series, and the requests
// received; R is what a server records of a request. The zero Log is ready
// for use and safe for concurrent use.
type Log[R any] struct {
	mu       sync.Mutex
	queued   map[string][]Response
	requests []R
}

// Queue makes the next requests for series get responses, in order, before
// the recorded data is served again.
func (l *Log[R]) Queue(series string, responses ...Response) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queued == nil {
		l.queued = map[string][]Response{}
	}
	l.queued[series] = append(l.queued[series], responses...)
}

// Record logs a request for series and returns the canned answer queued
// for it, if any; mark is called on req, under the lock, when there is one.
func (l *Log[R]) Record(series string, req R, mark func(*R)) *Response {
	l.mu.Lock()
	defer l.mu.Unlock()
	var canned *Response
	if next := l.queued[series]; len(next) > 0 {
		canned, l.queued[series] = &next[0], next[1:]
		mark(&req)
	}
	l.requests = append(l.requests, req)
	return canned
}

// Requests returns the requests received so far.
func (l *Log[R]) Requests() []R {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.requests)
}
