// Package quandltest serves the Quandl / Nasdaq Data Link v3 API from the
// recorded-shape answers in the module's testdata/quandl/, for tests: the
// time-series data.json API (filtered by start_date/end_date, in the
// requested order) and the Tables API (filtered by column and date, over
// cursor pages). It checks the API key, answers unknown codes, bad keys and
// retired series as the real API does, and can be told to fail or to change
// an upstream value.
package quandltest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/replay"
	"github.com/acmecheckout/reports/internal/testenv"
)

// Response is one canned answer, served instead of the recorded data.
type Response = replay.Response

// Request is what the server received.
type Request struct {
	// Dataset is DATABASE/CODE, or PUBLISHER/TABLE for the Tables API.
	Dataset string
	// Table is set for a Tables API request.
	Table               bool
	APIKey              string
	StartDate, EndDate  string // start_date/end_date, or date.gte/date.lte
	Order               string
	Filters             url.Values // Tables API column filters
	Cursor              string     // qopts.cursor_id
	At                  time.Time
	AnsweredWithFailure bool
}

// Server is a running fake API. Its base URL (for QUANDL_BASE_URL) is BaseURL.
type Server struct {
	BaseURL string
	apiKey  string
	dir     string
	log     replay.Log[Request]

	mu       sync.Mutex
	datasets map[string]*recording
	tables   map[string]*table
	retired  map[string]bool
	pageSize int
}

// recording is one dataset's recorded response.
type recording struct {
	Columns   []string
	Frequency string
	Rows      [][]json.RawMessage
}

// table is one datatable's recorded answer.
type table struct {
	Columns []column
	Rows    [][]json.RawMessage
}

// column is a datatable column: its name and type.
type column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// index returns the position of the column called name, or -1.
func (tb *table) index(name string) int {
	return slices.IndexFunc(tb.Columns, func(c column) bool { return c.Name == name })
}

// NewServer starts a server holding every testdata/quandl/DATABASE/CODE.json
// and testdata/quandl/datatables/PUBLISHER/TABLE.json, accepting only
// apiKey; it stops when the test ends.
func NewServer(t testing.TB, apiKey string) *Server {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{apiKey: apiKey, dir: filepath.Join(root, "testdata", "quandl"), datasets: map[string]*recording{},
		tables: map[string]*table{}, retired: map[string]bool{}, pageSize: 10000}
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
	tables, _ := filepath.Glob(filepath.Join(s.dir, "datatables", "*", "*.json"))
	for _, f := range tables {
		tb, err := loadTable(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s.tables[filepath.Base(filepath.Dir(f))+"/"+strings.TrimSuffix(filepath.Base(f), ".json")] = tb
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

// loadTable reads a recorded datatable answer.
func loadTable(path string) (*table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r struct {
		Datatable struct {
			Data    [][]json.RawMessage `json:"data"`
			Columns []column            `json:"columns"`
		} `json:"datatable"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &table{Columns: r.Datatable.Columns, Rows: r.Datatable.Data}, nil
}

// ErrorBody returns the recorded error answer testdata/quandl/errors/NAME
// (NAME.json when it has no extension).
func (s *Server) ErrorBody(t testing.TB, name string) string {
	t.Helper()
	if filepath.Ext(name) == "" {
		name += ".json"
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "errors", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Queue makes the next requests for dataset (DATABASE/CODE or
// PUBLISHER/TABLE) get responses, in order, before the recorded data is
// served again.
func (s *Server) Queue(dataset string, responses ...Response) { s.log.Queue(dataset, responses...) }

// Remove makes dataset unknown, as a wrong code is (HTTP 404, QECx02).
func (s *Server) Remove(dataset string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.datasets, dataset)
	delete(s.tables, dataset)
}

// Retire makes dataset answer HTTP 410 Gone, as the free datasets that were
// not updated in 2024 do since October 2024.
func (s *Server) Retire(dataset string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired[dataset] = true
}

// SetPageSize makes the Tables API answer at most n rows per page (default
// 10,000, the API's maximum).
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
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
func (s *Server) Requests() []Request { return s.log.Requests() }

// ServeHTTP answers GET /api/v3/datasets/{DATABASE}/{CODE}/data.json and
// GET /api/v3/datatables/{PUBLISHER}/{TABLE}.json.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := Request{APIKey: q.Get("api_key"), Order: q.Get("order"), At: time.Now()}
	var ok bool
	if rest, isTable := strings.CutPrefix(r.URL.Path, "/api/v3/datatables/"); isTable {
		req.Dataset, ok = strings.CutSuffix(rest, ".json")
		req.Table, req.StartDate, req.EndDate, req.Cursor = true, q.Get("date.gte"), q.Get("date.lte"), q.Get("qopts.cursor_id")
		req.Filters = url.Values{}
		for k, v := range q {
			if k != "api_key" && k != "date.gte" && k != "date.lte" && !strings.HasPrefix(k, "qopts.") {
				req.Filters[k] = v
			}
		}
	} else {
		rest, ok1 := strings.CutPrefix(r.URL.Path, "/api/v3/datasets/")
		req.Dataset, ok = strings.CutSuffix(rest, "/data.json")
		ok = ok && ok1
		req.StartDate, req.EndDate = q.Get("start_date"), q.Get("end_date")
	}
	canned := s.log.Record(req.Dataset, req, func(r *Request) { r.AnsweredWithFailure = true })
	s.mu.Lock()
	rec, tb, retired, pageSize := s.datasets[req.Dataset], s.tables[req.Dataset], s.retired[req.Dataset], s.pageSize
	s.mu.Unlock()

	switch {
	case canned != nil:
		canned.Write(w)
	case r.Method != http.MethodGet || !ok:
		Response{Status: http.StatusNotFound, Body: `{"quandl_error":{"code":"QECx00","message":"Not found."}}`}.Write(w)
	case req.APIKey != s.apiKey:
		Response{Status: http.StatusBadRequest, Body: `{"quandl_error":{"code":"QEAx01","message":"We could not recognize your API key. Please check your API key and try again."}}`}.Write(w)
	case retired:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusGone)
		fmt.Fprintf(w, "Resource is no longer available. Path: %s", r.URL.Path)
	case req.Table && tb != nil:
		s.mu.Lock()
		resp := tb.answer(req, q, pageSize)
		s.mu.Unlock()
		resp.Write(w)
	case !req.Table && rec != nil:
		s.mu.Lock()
		body := rec.answer(req.StartDate, req.EndDate, req.Order)
		s.mu.Unlock()
		Response{Status: http.StatusOK, Body: string(body)}.Write(w)
	default:
		Response{Status: http.StatusNotFound, Body: `{"quandl_error":{"code":"QECx02","message":"You have submitted an incorrect Quandl code. Please check your Quandl codes and try again."}}`}.Write(w)
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

// answer renders one page of the rows that pass req's filters and dates:
// the page starting at req's cursor (an offset written as "cursor-N"), of
// at most min(qopts.per_page, pageSize) rows.
func (tb *table) answer(req Request, q url.Values, pageSize int) Response {
	dateCol := tb.index("date")
	var rows [][]json.RawMessage
	for _, row := range tb.Rows {
		keep := true
		for col, vals := range req.Filters {
			i := tb.index(col)
			if i < 0 {
				return Response{Status: http.StatusBadRequest, Body: fmt.Sprintf(`{"quandl_error":{"code":"QESx06","message":"You cannot filter on the %s column."}}`, col)}
			}
			var v string
			_ = json.Unmarshal(row[i], &v)
			keep = keep && slices.Contains(vals, v)
		}
		var d string
		_ = json.Unmarshal(row[dateCol], &d)
		if keep && (req.StartDate == "" || d >= req.StartDate) && (req.EndDate == "" || d <= req.EndDate) {
			rows = append(rows, row)
		}
	}
	if n, err := strconv.Atoi(q.Get("qopts.per_page")); err == nil && n > 0 {
		pageSize = min(pageSize, n)
	}
	offset := 0
	if req.Cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(req.Cursor, "cursor-"))
		if err != nil || n < 0 || n > len(rows) {
			return Response{Status: http.StatusBadRequest, Body: `{"quandl_error":{"code":"QESx05","message":"The cursor_id is invalid."}}`}
		}
		offset = n
	}
	page := rows[offset:min(offset+pageSize, len(rows))]
	var next any
	if offset+len(page) < len(rows) {
		next = fmt.Sprintf("cursor-%d", offset+len(page))
	}
	if page == nil {
		page = [][]json.RawMessage{}
	}
	b, _ := json.Marshal(map[string]any{"datatable": map[string]any{"data": page, "columns": tb.Columns}, "meta": map[string]any{"next_cursor_id": next}})
	return Response{Status: http.StatusOK, Body: string(b)}
}

// dateOf returns a recorded row's date.
func dateOf(row []json.RawMessage) string {
	var d string
	if len(row) > 0 {
		_ = json.Unmarshal(row[0], &d)
	}
	return d
}
