// Package fredtest serves the FRED API's series/observations from the
// recorded-shape answers in the module's testdata/fred/, for tests: it checks
// the API key and file_type, filters by observation_start/observation_end,
// pages by offset, answers unknown series, bad keys and retired series as the
// real API does, and can be told to fail.
package fredtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	SeriesID           string
	APIKey             string
	FileType           string
	StartDate, EndDate string // observation_start, observation_end
	Offset             string
	At                 time.Time
	AnsweredWithCanned bool
}

// Server is a running fake FRED API; BaseURL is for FRED_BASE_URL.
type Server struct {
	BaseURL string
	apiKey  string
	dir     string
	log     replay.Log[Request]

	mu       sync.Mutex
	series   map[string]*recording
	retired  map[string]bool
	pageSize int
}

// recording is one series' recorded answer.
type recording struct {
	Doc          map[string]json.RawMessage
	Observations []observation
}

type observation struct {
	RealtimeStart string `json:"realtime_start"`
	RealtimeEnd   string `json:"realtime_end"`
	Date          string `json:"date"`
	Value         string `json:"value"`
}

// NewServer starts a server holding every testdata/fred/SERIES.json and
// accepting only apiKey; it stops when the test ends.
func NewServer(t testing.TB, apiKey string) *Server {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{apiKey: apiKey, dir: filepath.Join(root, "testdata", "fred"), series: map[string]*recording{}, retired: map[string]bool{}, pageSize: 100000}
	files, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded answers in %s: %v", s.dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recording{}
		if err := json.Unmarshal(b, &rec.Doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := json.Unmarshal(rec.Doc["observations"], &rec.Observations); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s.series[strings.TrimSuffix(filepath.Base(f), ".json")] = rec
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.BaseURL = srv.URL + "/fred"
	return s
}

// ErrorBody returns the recorded error answer testdata/fred/errors/NAME.json
// (not_found, bad_key, rate_limited).
func (s *Server) ErrorBody(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "errors", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Queue makes the next requests for series get responses, in order, before
// the recorded data is served again.
func (s *Server) Queue(series string, responses ...Response) { s.log.Queue(series, responses...) }

// Retire makes series answer HTTP 410 Gone.
func (s *Server) Retire(series string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired[series] = true
}

// SetPageSize makes the server answer at most n observations per request
// (FRED's limit is 100,000), so that a client must page by offset.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request { return s.log.Requests() }

// ServeHTTP answers GET /fred/series/observations.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := Request{SeriesID: q.Get("series_id"), APIKey: q.Get("api_key"), FileType: q.Get("file_type"),
		StartDate: q.Get("observation_start"), EndDate: q.Get("observation_end"), Offset: q.Get("offset"), At: time.Now()}
	canned := s.log.Record(req.SeriesID, req, func(r *Request) { r.AnsweredWithCanned = true })
	s.mu.Lock()
	rec, retired, pageSize := s.series[req.SeriesID], s.retired[req.SeriesID], s.pageSize
	s.mu.Unlock()
	fail := func(status int, msg string) {
		Response{Status: status, Body: fmt.Sprintf(`{"error_code":%d,"error_message":%q}`, status, msg)}.Write(w)
	}
	offset, err := strconv.Atoi(q.Get("offset"))
	switch {
	case canned != nil:
		canned.Write(w)
	case r.Method != http.MethodGet || r.URL.Path != "/fred/series/observations":
		fail(http.StatusNotFound, "Not Found.")
	case req.APIKey != s.apiKey:
		fail(http.StatusBadRequest, "Bad Request.  The value for variable api_key is not registered. Read https://fred.stlouisfed.org/docs/api/api_key.html for more information.")
	case req.FileType != "json":
		fail(http.StatusBadRequest, "Bad Request.  This server only answers file_type=json in tests.")
	case q.Has("offset") && (err != nil || offset < 0):
		fail(http.StatusBadRequest, "Bad Request.  Variable offset is not a non-negative integer.")
	case retired:
		fail(http.StatusGone, "Gone.  The series is no longer available.")
	case rec == nil:
		fail(http.StatusBadRequest, "Bad Request.  The series does not exist.")
	default:
		var obs []observation
		for _, o := range rec.Observations {
			if (req.StartDate == "" || o.Date >= req.StartDate) && (req.EndDate == "" || o.Date <= req.EndDate) {
				obs = append(obs, o)
			}
		}
		count := len(obs)
		page := obs[min(offset, count):min(offset+pageSize, count)]
		if page == nil {
			page = []observation{}
		}
		doc := map[string]any{}
		for k, v := range rec.Doc {
			doc[k] = v
		}
		doc["observation_start"], doc["observation_end"] = orDefault(req.StartDate, "1776-07-04"), orDefault(req.EndDate, "9999-12-31")
		doc["count"], doc["offset"], doc["limit"], doc["observations"] = count, offset, min(pageSize, 100000), page
		b, _ := json.Marshal(doc)
		Response{Status: http.StatusOK, Body: string(b)}.Write(w)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
