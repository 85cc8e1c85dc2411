// Package quandltest serves the Quandl / Nasdaq Data Link v3 data.json API
// from the recorded-shape responses in the module's testdata/quandl/, for
// tests: it checks the API key, filters rows by start_date/end_date, honours
// order, answers unknown codes and bad keys as the real API does, and can be
// told to fail or to change an upstream value.
package quandltest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/testenv"
)

// Response is one canned answer, served instead of the recorded data.
type Response struct {
	Status     int
	RetryAfter string // Retry-After header, if any
	Body       string
}

// Request is what the server received.
type Request struct {
	Dataset             string // DATABASE/CODE
	APIKey              string
	StartDate, EndDate  string
	Order               string
	At                  time.Time
	AnsweredWithFailure bool
}

// Server is a running fake API. Its base URL (for QUANDL_BASE_URL) is BaseURL.
type Server struct {
	BaseURL string
	apiKey  string
	dir     string

	mu       sync.Mutex
	datasets map[string]*recording
	queued   map[string][]Response
	requests []Request
}

// recording is one dataset's recorded response.
type recording struct {
	Columns   []string
	Frequency string
	Rows      [][]json.RawMessage
}

// NewServer starts a server holding every testdata/quandl/DATABASE/CODE.json
// and accepting only apiKey; it stops when the test ends.
func NewServer(t testing.TB, apiKey string) *Server {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{apiKey: apiKey, dir: filepath.Join(root, "testdata", "quandl"), datasets: map[string]*recording{}, queued: map[string][]Response{}}
	files, err := filepath.Glob(filepath.Join(s.dir, "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded responses in %s: %v", s.dir, err)
	}
	for _, f := range files {
		db := filepath.Base(filepath.Dir(f))
		if db == "errors" {
			continue
		}
		rec, err := load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s.datasets[db+"/"+strings.TrimSuffix(filepath.Base(f), ".json")] = rec
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.BaseURL = srv.URL + "/api/v3"
	return s
}

// load reads a recorded data.json response.
func load(path string) (*recording, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r struct {
		DatasetData struct {
			ColumnNames []string            `json:"column_names"`
			Frequency   string              `json:"frequency"`
			Data        [][]json.RawMessage `json:"data"`
		} `json:"dataset_data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &recording{Columns: r.DatasetData.ColumnNames, Frequency: r.DatasetData.Frequency, Rows: r.DatasetData.Data}, nil
}

// ErrorBody returns the recorded error answer testdata/quandl/errors/CODE.json.
func (s *Server) ErrorBody(t testing.TB, code string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "errors", code+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Queue makes the next requests for dataset (DATABASE/CODE) get responses, in
// order, before the recorded data is served again.
func (s *Server) Queue(dataset string, responses ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued[dataset] = append(s.queued[dataset], responses...)
}

// Remove makes dataset unknown, as a wrong code is.
func (s *Server) Remove(dataset string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.datasets, dataset)
}

// SetValue changes dataset's value on date in column (as named in
// column_names) to value, a JSON number or null, as upstream revisions do.
func (s *Server) SetValue(t testing.TB, dataset, date, column, value string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.datasets[dataset]
	if rec == nil {
		t.Fatalf("no dataset %s", dataset)
	}
	j := slices.Index(rec.Columns, column)
	if j < 0 {
		t.Fatalf("%s has no column %q", dataset, column)
	}
	for _, row := range rec.Rows {
		if dateOf(row) == date {
			row[j] = json.RawMessage(value)
			return
		}
	}
	t.Fatalf("%s has no row dated %s", dataset, date)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ServeHTTP answers GET /api/v3/datasets/{DATABASE}/{CODE}/data.json.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v3/datasets/")
	rest, ok2 := strings.CutSuffix(rest, "/data.json")
	dataset := rest
	s.mu.Lock()
	req := Request{Dataset: dataset, APIKey: q.Get("api_key"), StartDate: q.Get("start_date"), EndDate: q.Get("end_date"), Order: q.Get("order"), At: time.Now()}
	var canned *Response
	if next := s.queued[dataset]; len(next) > 0 {
		canned, s.queued[dataset] = &next[0], next[1:]
		req.AnsweredWithFailure = true
	}
	s.requests = append(s.requests, req)
	rec := s.datasets[dataset]
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch {
	case canned != nil:
		if canned.RetryAfter != "" {
			w.Header().Set("Retry-After", canned.RetryAfter)
		}
		w.WriteHeader(canned.Status)
		fmt.Fprint(w, canned.Body)
	case r.Method != http.MethodGet || !ok || !ok2:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"quandl_error":{"code":"QECx00","message":"Not found."}}`)
	case req.APIKey != s.apiKey:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"quandl_error":{"code":"QEAx01","message":"We could not recognize your API key. Please check your API key and try again."}}`)
	case rec == nil:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"quandl_error":{"code":"QECx02","message":"You have submitted an incorrect Quandl code. Please check your Quandl codes and try again."}}`)
	default:
		s.mu.Lock()
		body := rec.answer(req.StartDate, req.EndDate, req.Order)
		s.mu.Unlock()
		_, _ = w.Write(body)
	}
}

// answer renders the rows dated within [start, end] ("" = unbounded) in the
// requested order (default desc, as the API's).
func (rec *recording) answer(start, end, order string) []byte {
	var rows [][]json.RawMessage
	for _, row := range rec.Rows {
		d := dateOf(row)
		if (start == "" || d >= start) && (end == "" || d <= end) {
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, func(a, b []json.RawMessage) int { return strings.Compare(dateOf(b), dateOf(a)) })
	if order == "asc" {
		slices.Reverse(rows)
	}
	if rows == nil {
		rows = [][]json.RawMessage{}
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var ord any
	if order != "" {
		ord = order
	}
	b, _ := json.Marshal(map[string]any{"dataset_data": map[string]any{
		"limit": nil, "transform": nil, "column_index": nil, "column_names": rec.Columns,
		"start_date": null(start), "end_date": null(end), "frequency": rec.Frequency,
		"data": rows, "collapse": nil, "order": ord,
	}})
	return b
}

// dateOf returns a recorded row's date.
func dateOf(row []json.RawMessage) string {
	var d string
	if len(row) > 0 {
		_ = json.Unmarshal(row[0], &d)
	}
	return d
}
