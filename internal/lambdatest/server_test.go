package lambdatest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/lambdatest"
)

// runtime plays a function's side of the Runtime API with plain HTTP. It
// reports problems with t.Error, as it runs on its own goroutine.
type runtime struct {
	t    *testing.T
	base string
}

func (r runtime) next() (id string, deadline time.Time, payload string) {
	r.t.Helper()
	resp, err := http.Get(r.base + "/invocation/next")
	if err != nil {
		r.t.Error(err)
		return "", time.Time{}, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	ms, err := strconv.ParseInt(resp.Header.Get(lambdatest.HeaderDeadline), 10, 64)
	if err != nil || resp.Header.Get(lambdatest.HeaderFunctionARN) == "" || resp.Header.Get(lambdatest.HeaderTraceID) == "" {
		r.t.Errorf("next: missing Lambda-Runtime-* headers: %v", resp.Header)
	}
	return resp.Header.Get(lambdatest.HeaderRequestID), time.UnixMilli(ms), string(b)
}

func (r runtime) post(path, body string, header ...string) int {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.base+path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServer(t *testing.T) {
	testCases := []struct {
		name    string
		respond func(rt runtime, id string) // what the function does with the invocation
		want    lambdatest.Response
	}{
		{
			name: "response",
			respond: func(rt runtime, id string) {
				if code := rt.post("/invocation/"+id+"/response", `{"ok":true}`); code != http.StatusAccepted {
					t.Errorf("response: status %d", code)
				}
			},
			want: lambdatest.Response{Payload: []byte(`{"ok":true}`)},
		},
		{
			name: "error",
			respond: func(rt runtime, id string) {
				rt.post("/invocation/"+id+"/error", `{"errorMessage":"boom","errorType":"Oops"}`, lambdatest.HeaderErrorType, "Oops")
			},
			want: lambdatest.Response{Err: &lambdatest.ErrorResponse{Type: "Oops", Message: "boom"}},
		},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			s := lambdatest.NewServer(t)
			rt := runtime{t: t, base: "http://" + s.Addr() + "/2018-06-01/runtime"}
			done := make(chan struct{})
			defer func() { <-done }()
			go func() {
				defer close(done)
				id, deadline, payload := rt.next()
				if payload != `{"in":1}` || time.Until(deadline) < 5*time.Second {
					t.Errorf("next: payload %q, deadline in %v", payload, time.Until(deadline))
				}
				tc.respond(rt, id)
				if code := rt.post("/invocation/"+id+"/response", `{}`); code != http.StatusBadRequest {
					t.Errorf("second answer: status %d, want 400", code)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := s.Invoke(ctx, []byte(`{"in":1}`), lambdatest.WithTimeout(10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Payload) != string(tc.want.Payload) || (got.Err == nil) != (tc.want.Err == nil) ||
				(got.Err != nil && (got.Err.Type != tc.want.Err.Type || got.Err.Message != tc.want.Err.Message)) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if _, err := s.WaitReady(ctx); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("init error", func(t *testing.T) {
		s := lambdatest.NewServer(t)
		rt := runtime{t: t, base: "http://" + s.Addr() + "/2018-06-01/runtime"}
		if code := rt.post("/init/error", `{"errorMessage":"TABLE_NAME is required","errorType":"Runtime.ConfigError"}`); code != http.StatusAccepted {
			t.Fatalf("status %d", code)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		e, err := s.WaitInitError(ctx)
		if err != nil || e.Type != "Runtime.ConfigError" {
			t.Fatalf("init error %+v, %v", e, err)
		}
		if _, err := s.Invoke(ctx, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "initialize") {
			t.Errorf("Invoke after an init error: %v", err)
		}
	})
}
