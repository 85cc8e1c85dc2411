package lambdainit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/lambdainit"
	"github.com/acmecheckout/reports/internal/lambdatest"
)

func TestPostError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt := lambdatest.NewServer(t)
	cause := errors.New(`etl config: SECRETS_PLAINTEXT "maybe": want true or empty`)
	if err := lambdainit.PostError(ctx, rt.Addr(), lambdainit.ConfigError, cause); err != nil {
		t.Fatal(err)
	}
	ie, err := rt.WaitInitError(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ie.Type != "Runtime.ConfigError" || ie.Message != cause.Error() {
		t.Errorf("init error %+v, want Runtime.ConfigError: %s", ie, cause)
	}
	if _, err := rt.WaitReady(ctx); err == nil {
		t.Error("the Runtime API reports the function ready")
	}
}

func TestPostErrorFails(t *testing.T) {
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(refused.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name    string
		api     string
		wantErr string
	}{
		{name: "not accepted", api: strings.TrimPrefix(refused.URL, "http://"), wantErr: "status 403"},
		{name: "unreachable", api: strings.TrimPrefix(closed.URL, "http://"), wantErr: "post init error"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			err := lambdainit.PostError(context.Background(), tc.api, lambdainit.ConfigError, errors.New("boom"))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
