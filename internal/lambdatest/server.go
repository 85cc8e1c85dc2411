// Package lambdatest runs Lambda functions in tests the way Lambda does. It
// builds a function's bootstrap binary (Build) and either
//
//   - runs it under AWS's Lambda Runtime Interface Emulator (Emulate), for
//     end-to-end tests: invoke it, read its responses, errors, init errors
//     and output; or
//   - serves the Lambda Runtime API (2018-06-01) itself (NewServer), to a
//     bootstrap process (Start) or to code under test in process: to see a
//     posted init error, or to time a cold start (process start to first
//     /runtime/invocation/next) without the emulator's own work in it.
//
// See https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html.
package lambdatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Runtime API headers.
const (
	HeaderRequestID   = "Lambda-Runtime-Aws-Request-Id"
	HeaderDeadline    = "Lambda-Runtime-Deadline-Ms"
	HeaderFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderTraceID     = "Lambda-Runtime-Trace-Id"
	HeaderErrorType   = "Lambda-Runtime-Function-Error-Type"
)

// DefaultTimeout is an invocation's timeout unless WithTimeout says otherwise.
const DefaultTimeout = 30 * time.Second

// FunctionARN is the invoked function ARN the server hands out.
const FunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:test"

// ErrorResponse is an error a function reported, at init or for an invocation.
type ErrorResponse struct {
	// Type is errorType from the body, or else the
	// Lambda-Runtime-Function-Error-Type header.
	Type string `json:"errorType"`
	// Message is errorMessage from the body.
	Message string `json:"errorMessage"`
	// Body is the raw body as posted.
	Body []byte `json:"-"`
}

// Error returns "Type: Message".
func (e *ErrorResponse) Error() string { return e.Type + ": " + e.Message }

// Response is what a function answered to one invocation.
type Response struct {
	// RequestID is the invocation's request id.
	RequestID string
	// Payload is the response body on success.
	Payload []byte
	// Err is the error the function reported instead, if any.
	Err *ErrorResponse
}

// Server is a Lambda Runtime API for one function process at a time.
type Server struct {
	srv     *httptest.Server
	queue   chan *invocation
	closed  chan struct{}
	initErr chan *ErrorResponse
	ready   chan struct{}

	mu        sync.Mutex
	pending   map[string]*invocation
	firstNext time.Time
}

type invocation struct {
	id      string
	payload []byte
	timeout time.Duration
	result  chan Response
}

// NewServer starts a Runtime API server; it stops when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		queue:   make(chan *invocation),
		closed:  make(chan struct{}),
		initErr: make(chan *ErrorResponse, 1),
		ready:   make(chan struct{}),
		pending: make(map[string]*invocation),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.initError)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(s.closed)
		s.srv.Close()
	})
	return s
}

// Addr is the host:port to put in AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return strings.TrimPrefix(s.srv.URL, "http://") }

// Env returns the AWS_LAMBDA_RUNTIME_API=... environment entry.
func (s *Server) Env() string { return "AWS_LAMBDA_RUNTIME_API=" + s.Addr() }

// InvokeOption configures one invocation.
type InvokeOption func(*invocation)

// WithTimeout sets the function timeout: the invocation's deadline is d after
// the function receives it (default DefaultTimeout).
func WithTimeout(d time.Duration) InvokeOption {
	return func(i *invocation) { i.timeout = d }
}

// Invoke hands payload to the function's next /invocation/next and waits for
// its response or error. It returns an error if ctx ends first or the
// function reports an init error.
func (s *Server) Invoke(ctx context.Context, payload []byte, opts ...InvokeOption) (Response, error) {
	inv := &invocation{
		id:      newRequestID(),
		payload: payload,
		timeout: DefaultTimeout,
		result:  make(chan Response, 1),
	}
	for _, o := range opts {
		o(inv)
	}
	s.mu.Lock()
	s.pending[inv.id] = inv
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, inv.id)
		s.mu.Unlock()
	}()

	select {
	case s.queue <- inv:
	case e := <-s.initErr:
		s.initErr <- e
		return Response{}, fmt.Errorf("invoke: function failed to initialize: %w", e)
	case <-ctx.Done():
		return Response{}, fmt.Errorf("invoke: function did not ask for the invocation: %w", ctx.Err())
	}
	select {
	case r := <-inv.result:
		return r, nil
	case <-ctx.Done():
		return Response{}, fmt.Errorf("invoke %s: no response: %w", inv.id, ctx.Err())
	}
}

// WaitReady waits for the function's first /invocation/next request, which
// ends its init phase, and returns when it came.
func (s *Server) WaitReady(ctx context.Context) (time.Time, error) {
	select {
	case <-s.ready:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.firstNext, nil
	case e := <-s.initErr:
		s.initErr <- e
		return time.Time{}, fmt.Errorf("function failed to initialize: %w", e)
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("function never asked for an invocation: %w", ctx.Err())
	}
}

// WaitInitError waits for the function to post /runtime/init/error.
func (s *Server) WaitInitError(ctx context.Context) (*ErrorResponse, error) {
	select {
	case e := <-s.initErr:
		s.initErr <- e
		return e, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no init error reported: %w", ctx.Err())
	}
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.firstNext.IsZero() {
		s.firstNext = time.Now()
		close(s.ready)
	}
	s.mu.Unlock()
	select {
	case inv := <-s.queue:
		h := w.Header()
		h.Set(HeaderRequestID, inv.id)
		h.Set(HeaderDeadline, strconv.FormatInt(time.Now().Add(inv.timeout).UnixMilli(), 10))
		h.Set(HeaderFunctionARN, FunctionARN)
		h.Set(HeaderTraceID, "Root=1-"+inv.id[:8]+"-"+inv.id[8:32]+";Parent="+inv.id[:16]+";Sampled=0")
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	case <-s.closed:
		http.Error(w, "server closed", http.StatusGone)
	}
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	s.answer(w, r.PathValue("id"), Response{Payload: body})
}

func (s *Server) invocationError(w http.ResponseWriter, r *http.Request) {
	e, err := readError(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	s.answer(w, r.PathValue("id"), Response{Err: e})
}

func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	e, err := readError(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	select {
	case s.initErr <- e:
	default: // keep the first
	}
	writeStatus(w, http.StatusAccepted, "OK")
}

// answer delivers the outcome of invocation id, once.
func (s *Server) answer(w http.ResponseWriter, id string, r Response) {
	s.mu.Lock()
	inv, ok := s.pending[id]
	if ok {
		delete(s.pending, id)
	}
	s.mu.Unlock()
	if !ok {
		writeStatus(w, http.StatusBadRequest, "unknown or already answered request id "+id)
		return
	}
	r.RequestID = id
	inv.result <- r
	writeStatus(w, http.StatusAccepted, "OK")
}

func readError(r *http.Request) (*ErrorResponse, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	e := &ErrorResponse{Body: body}
	if len(body) > 0 {
		if err := json.Unmarshal(body, e); err != nil {
			return nil, fmt.Errorf("error body is not JSON: %w", err)
		}
	}
	if e.Type == "" {
		e.Type = r.Header.Get(HeaderErrorType)
	}
	return e, nil
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"status": status})
	_, _ = w.Write(b)
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
