package quandl_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/quandl"
	"github.com/acmecheckout/reports/internal/quandl/quandltest"
)

// tableEntry is a quandl-table catalog entry.
func tableEntry(code, ticker string, filters map[string]string) markets.Entry {
	db, _, _ := strings.Cut(code, "/")
	return markets.Entry{Dataset: markets.Dataset{Job: markets.RealEstate, Database: db, Ticker: ticker}, Source: markets.SourceQuandlTable, Code: code, Filters: filters}
}

// TestTableOverCursorPages reads a Tables API answer split into three cursor
// pages: every page is asked for with the previous page's next_cursor_id,
// the filters and the window; filter columns and the date are not values.
func TestTableOverCursorPages(t *testing.T) {
	srv := quandltest.NewServer(t, apiKey)
	srv.SetPageSize(5)
	c := mustClient(t, srv.BaseURL, fastRetry)
	e := tableEntry("ZILLOW/DATA", "ZALL_102001", map[string]string{"indicator_id": "ZALL", "region_id": "102001"})
	s, err := c.Fetch(context.Background(), e, mustDate(t, "2024-01-01"), mustDate(t, "2024-12-31"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Columns, []string{"value"}) {
		t.Errorf("columns = %q, want [value]: indicator_id and region_id are filters, date is the date", s.Columns)
	}
	if len(s.Rows) != 12 || s.Rows[0].Date.String() != "2024-01-31" || s.Rows[11].Date.String() != "2024-12-31" {
		t.Fatalf("%d rows from %v to %v, want the 12 month ends of 2024", len(s.Rows), s.Rows[0].Date, s.Rows[len(s.Rows)-1].Date)
	}
	if got := s.Rows[0].Values; !slices.Equal(got, []string{"341949.14"}) {
		t.Errorf("2024-01-31 = %q, want the value exactly as recorded", got)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 pages", len(reqs))
	}
	for i, want := range []string{"", "cursor-5", "cursor-10"} {
		r := reqs[i]
		if r.Cursor != want || !r.Table || r.Dataset != "ZILLOW/DATA" || r.StartDate != "2024-01-01" || r.EndDate != "2024-12-31" ||
			r.Filters.Get("indicator_id") != "ZALL" || r.Filters.Get("region_id") != "102001" || r.APIKey != apiKey {
			t.Errorf("request %d: %+v, want cursor %q, the window and the filters", i, r, want)
		}
	}
}

// TestTableTypedColumns: numeric columns are values, a text column that is a
// filter is not, and the values keep their exact text.
func TestTableTypedColumns(t *testing.T) {
	srv := quandltest.NewServer(t, apiKey)
	c := mustClient(t, srv.BaseURL, fastRetry)
	e := tableEntry("QUOTEMEDIA/PRICES", "NVDA", map[string]string{"ticker": "NVDA"})
	e.Job = markets.Equities
	s, err := c.Fetch(context.Background(), e, mustDate(t, "2025-01-02"), mustDate(t, "2025-01-10"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"open", "high", "low", "close", "volume", "dividend", "split", "adj_open", "adj_high", "adj_low", "adj_close", "adj_volume"}
	if !slices.Equal(s.Columns, want) {
		t.Errorf("columns = %q\nwant      %q", s.Columns, want)
	}
	if len(s.Rows) != 6 {
		t.Errorf("%d rows, want the 6 trading days from 2025-01-02 to 01-10 (01-09 was closed)", len(s.Rows))
	}
	if got := s.Rows[0]; got.Date.String() != "2025-01-02" || got.Values[0] != "138.6" || got.Values[4] != "231000000.0" {
		t.Errorf("first row %v %q", got.Date, got.Values)
	}
}

func TestTableErrors(t *testing.T) {
	page := func(data, columns, next string) quandltest.Response {
		return quandltest.Response{Status: 200, Body: fmt.Sprintf(`{"datatable":{"data":%s,"columns":%s},"meta":{"next_cursor_id":%s}}`, data, columns, next)}
	}
	const cols = `[{"name":"region_id","type":"String"},{"name":"date","type":"Date"},{"name":"value","type":"double"}]`
	tests := []struct {
		name      string
		code      string
		filters   map[string]string
		responses []quandltest.Response
		want      error
		wantText  string
		requests  int
	}{
		{name: "unknown table", code: "ZILLOW/NOPE", want: markets.ErrNotFound, wantText: "QECx02", requests: 1},
		{name: "retired table", code: "ZILLOW/DATA", responses: []quandltest.Response{{Status: 410, Body: "Resource is no longer available."}}, want: markets.ErrRetired, wantText: "HTTP 410", requests: 1},
		{name: "no subscription", code: "QUOTEMEDIA/PRICES", responses: []quandltest.Response{{Status: 403, Body: `{"quandl_error":{"code":"QEPx04","message":"You do not have permission to view this dataset."}}`}}, want: quandl.ErrUnauthorized, wantText: "QEPx04", requests: 1},
		{name: "429 every time", code: "ZILLOW/DATA", responses: []quandltest.Response{{Status: 429, RetryAfter: "0"}, {Status: 429}, {Status: 429}}, want: quandl.ErrRateLimited, requests: 3},
		{name: "malformed page", code: "ZILLOW/DATA", responses: []quandltest.Response{{Status: 200, Body: `{"datatable":{"data":[["1","2024-01-31",1.5]`}}, want: quandl.ErrMalformed, requests: 1},
		{name: "malformed second page", code: "ZILLOW/DATA", responses: []quandltest.Response{page(`[["1","2024-01-31",1.5]]`, cols, `"c1"`), {Status: 200, Body: `{"datatable":`}}, want: quandl.ErrMalformed, wantText: "page 2", requests: 2},
		{name: "a page repeats", code: "ZILLOW/DATA", responses: []quandltest.Response{page(`[["1","2024-01-31",1.5]]`, cols, `"c1"`), page(`[["1","2024-02-29",1.5]]`, cols, `"c1"`)}, want: quandl.ErrMalformed, wantText: `next_cursor_id "c1" repeats`, requests: 2},
		{name: "columns change between pages", code: "ZILLOW/DATA", responses: []quandltest.Response{page(`[["1","2024-01-31",1.5]]`, cols, `"c1"`), page(`[]`, `[{"name":"date","type":"Date"}]`, `null`)}, want: quandl.ErrMalformed, wantText: "differ from the first page", requests: 2},
		{name: "no date column", code: "ZILLOW/DATA", responses: []quandltest.Response{page(`[]`, `[{"name":"value","type":"double"}]`, `null`)}, want: quandl.ErrMalformed, wantText: "no date column", requests: 1},
		{name: "text value", code: "ZILLOW/DATA", responses: []quandltest.Response{page(`[["1","2024-01-31","1.5"]]`, cols, `null`)}, want: quandl.ErrMalformed, wantText: `column value: 1.5 is not a number or null`, requests: 1},
		{name: "filters select several series", code: "ZILLOW/DATA", filters: map[string]string{"indicator_id": "ZALL"}, want: quandl.ErrMalformed, wantText: "appears twice: the filters map[indicator_id:ZALL] do not select one series", requests: 1},
		{name: "filter on an unknown column", code: "ZILLOW/DATA", filters: map[string]string{"zip": "94108"}, want: quandl.ErrUnavailable, wantText: "HTTP 400", requests: 1},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			srv := quandltest.NewServer(t, apiKey)
			srv.Queue(tc.code, tc.responses...)
			c := mustClient(t, srv.BaseURL, fastRetry)
			filters := tc.filters
			if filters == nil {
				filters = map[string]string{"region_id": "102001", "indicator_id": "ZALL"}
			}
			_, err := c.Fetch(context.Background(), tableEntry(tc.code, "T", filters), mustDate(t, "2024-01-01"), mustDate(t, "2024-12-31"))
			if tc.name == "filter on an unknown column" {
				var qe *quandl.Error
				if !errors.As(err, &qe) || qe.Status != http.StatusBadRequest {
					t.Fatalf("error = %v, want the API's 400", err)
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), "fetch quandl-table "+tc.code) {
				t.Errorf("error = %v, want it to name the table and say %q", err, tc.wantText)
			}
			if n := len(srv.Requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}
