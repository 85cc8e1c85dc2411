package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/api"
	"github.com/acmecheckout/reports/internal/markets"
)

const merchant = "1bb53ed1-787b-4543-9def-ea18eef7902e"

func newReports() *fakeReports {
	return &fakeReports{counts: map[string]int64{
		"2011-12-03:10|10-50":          3,
		"2011-12-03:11|500+":           1,
		"2011-12-04:00|0-10":           2,
		"10-50|SLICE_IT":               3,
		"500+|PAY_NOW":                 1,
		"2011-12-03|" + merchant:       4,
		merchant + "|SLICE_IT":         4,
		"2011-12-03:10|10-50|SLICE_IT": 3,
	}}
}

func newMarkets() *fakeMarkets {
	return &fakeMarkets{rows: map[markets.Job][]string{
		markets.Currency: {
			"CURRFX|EURUSD|EUR|2017-12-01|1.1794|1.1961|1.1712",
			"CURRFX|EURUSD|EUR|2017-12-04|1.18650000000000000001|NULL|NULL",
			"CURRFX|GBPUSD|GBP|2017-12-01|1.3517|NULL|NULL",
			"CURRFX|GBPUSD|GBP|2017-12-04|1.3446|NULL|NULL",
			"CURRFX|GBPUSD|GBP|2017-12-05|1.3400|NULL|NULL",
		},
		markets.InterestRates: {
			"USTREASURY|YIELD|2017-12-01|1_mo|1.14",
			"USTREASURY|YIELD|2017-12-04|1_mo|NULL",
			"USTREASURY|YIELD|2017-12-04|30_yr|2.77",
		},
	}}
}

// serve runs one request through h.
func serve(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func cursorOf(key ...string) string {
	b, _ := json.Marshal(key)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestRoutes is the contract of SPEC §8, route by route, answer by answer.
func TestRoutes(t *testing.T) {
	const (
		live    = "private, no-cache"
		latest  = "private, max-age=60"
		history = "private, max-age=300"
		never   = "no-store"
	)
	notFound := func(msg string) string { return `{"error":{"code":"not_found","message":` + quote(msg) + `}}` }
	badRequest := func(msg string) string { return `{"error":{"code":"invalid_request","message":` + quote(msg) + `}}` }
	internal := `{"error":{"code":"internal","message":"internal error"}}`
	gbp1 := `{"dataset":"CURRFX","ticker":"GBPUSD","currency":"GBP","date":"2017-12-01","rate":"1.3517","high_est":null,"low_est":null}`
	gbp4 := `{"dataset":"CURRFX","ticker":"GBPUSD","currency":"GBP","date":"2017-12-04","rate":"1.3446","high_est":null,"low_est":null}`
	gbp5 := `{"dataset":"CURRFX","ticker":"GBPUSD","currency":"GBP","date":"2017-12-05","rate":"1.3400","high_est":null,"low_est":null}`

	testCases := []struct {
		name       string
		target     string
		broken     bool
		wantStatus int
		wantBody   string
		wantCache  string
	}{
		// GET /api/datapoints/{datapoint}
		{"datapoint, escaped", "/api/datapoints/2011-12-03:10%7C10-50", false, 200, `{"datapoint":"2011-12-03:10|10-50","events":3}`, live},
		{"datapoint, unescaped", "/api/datapoints/10-50|SLICE_IT", false, 200, `{"datapoint":"10-50|SLICE_IT","events":3}`, live},
		{"datapoint of a merchant", "/api/datapoints/" + merchant + "%7CSLICE_IT", false, 200, `{"datapoint":"` + merchant + `|SLICE_IT","events":4}`, live},
		{"datapoint never counted", "/api/datapoints/2011-12-05:10%7C10-50", false, 404, notFound(`datapoint "2011-12-05:10|10-50" has no events`), never},
		{"not a datapoint", "/api/datapoints/hello", false, 404, notFound(`"hello" is not a datapoint of any report (e.g. 2011-12-03:10|10-50, 10-50|SLICE_IT; merchant ids lower-case)`), never},
		{"escaped slash in a datapoint", "/api/datapoints/10-50%2FSLICE_IT", false, 404, notFound(`"10-50/SLICE_IT" is not a datapoint of any report (e.g. 2011-12-03:10|10-50, 10-50|SLICE_IT; merchant ids lower-case)`), never},
		{"datapoint with a query", "/api/datapoints/10-50%7CSLICE_IT?day=2011-12-03", false, 400, badRequest(`unknown query parameter "day": this route takes none`), never},
		{"datapoint, store fails", "/api/datapoints/10-50%7CSLICE_IT", true, 500, internal, never},

		// GET /api/reports/{report}?day=
		{"daily report", "/api/reports/hour-bracket?day=2011-12-03", false, 200, `{"body":[{"datapoint":"2011-12-03:10|10-50","events":3},{"datapoint":"2011-12-03:11|500+","events":1}]}`, live},
		{"daily report, empty day", "/api/reports/day-merchant?day=2011-12-05", false, 200, `{"body":[]}`, live},
		{"all-time report", "/api/reports/bracket-method", false, 200, `{"body":[{"datapoint":"10-50|SLICE_IT","events":3},{"datapoint":"500+|PAY_NOW","events":1}]}`, live},
		{"daily report without day", "/api/reports/hour-bracket", false, 400, badRequest("report hour-bracket is daily: it needs a day YYYY-MM-DD"), never},
		{"daily report, bad day", "/api/reports/day-merchant?day=2011-02-30", false, 400, badRequest(`day "2011-02-30" is not a date YYYY-MM-DD`), never},
		{"all-time report with day", "/api/reports/merchant-method?day=2011-12-03", false, 400, badRequest(`report merchant-method counts all time: it takes no day, got "2011-12-03"`), never},
		{"all-time report, empty day", "/api/reports/merchant-method?day=", false, 400, badRequest("day is empty: give a day YYYY-MM-DD or no day parameter"), never},
		{"report, day twice", "/api/reports/hour-bracket?day=2011-12-03&day=2011-12-04", false, 400, badRequest(`query parameter "day" is given 2 times`), never},
		{"report, misspelt parameter", "/api/reports/hour-bracket?date=2011-12-03", false, 400, badRequest(`unknown query parameter "date": this route takes day`), never},
		{"unknown report", "/api/reports/hourly", false, 404, notFound(`unknown report "hourly": want one of hour-bracket, hour-bracket-method, bracket-method, day-merchant, merchant-method`), never},
		{"report, store fails", "/api/reports/bracket-method", true, 500, internal, never},

		// GET /api/{job}/latest
		{"latest currency", "/api/currency/latest", false, 200, `{"body":[` +
			`{"dataset":"CURRFX","ticker":"EURUSD","currency":"EUR","date":"2017-12-04","rate":"1.18650000000000000001","high_est":null,"low_est":null},` +
			gbp5 + `]}`, latest},
		{"latest interest rates: every key of the newest date", "/api/interest_rates/latest", false, 200, `{"body":[` +
			`{"dataset":"USTREASURY","ticker":"YIELD","date":"2017-12-04","key":"1_mo","value":null},` +
			`{"dataset":"USTREASURY","ticker":"YIELD","date":"2017-12-04","key":"30_yr","value":"2.77"}]}`, latest},
		{"latest of an empty table", "/api/economics/latest", false, 200, `{"body":[]}`, latest},
		{"latest of an unknown job", "/api/crypto/latest", false, 404, notFound(`unknown job "crypto": want one of currency, economics, equities, interest_rates, real_estate`), never},
		{"latest with a query", "/api/currency/latest?ticker=GBPUSD", false, 400, badRequest(`unknown query parameter "ticker": this route takes none`), never},
		{"latest, store fails", "/api/currency/latest", true, 500, internal, never},

		// GET /api/{job}?ticker=T&start=&end=&cursor= (page size 2)
		{"history, first page", "/api/currency?ticker=GBPUSD", false, 200, `{"body":[` + gbp1 + `,` + gbp4 + `],"next":"` + cursorOf("CURRFX", "GBPUSD", "2017-12-04") + `"}`, history},
		{"history, last page", "/api/currency?ticker=GBPUSD&cursor=" + cursorOf("CURRFX", "GBPUSD", "2017-12-04"), false, 200, `{"body":[` + gbp5 + `],"next":null}`, history},
		{"history, a full last page", "/api/currency?ticker=GBPUSD&start=2017-12-04", false, 200, `{"body":[` + gbp4 + `,` + gbp5 + `],"next":null}`, history},
		{"history, window", "/api/currency?ticker=GBPUSD&start=2017-12-02&end=2017-12-04", false, 200, `{"body":[` + gbp4 + `],"next":null}`, history},
		{"history, one day", "/api/currency?end=2017-12-01&ticker=GBPUSD&start=2017-12-01", false, 200, `{"body":[` + gbp1 + `],"next":null}`, history},
		{"history, unknown ticker", "/api/currency?ticker=JPYUSD", false, 200, `{"body":[],"next":null}`, history},
		{"history without ticker", "/api/currency?start=2017-12-01", false, 400, badRequest("ticker is required: /api/currency?ticker=T[&start=YYYY-MM-DD][&end=YYYY-MM-DD]"), never},
		{"history, empty ticker", "/api/currency?ticker=", false, 400, badRequest("ticker is required: /api/currency?ticker=T[&start=YYYY-MM-DD][&end=YYYY-MM-DD]"), never},
		{"history, bad start", "/api/currency?ticker=GBPUSD&start=2017-12-1", false, 400, badRequest(`start "2017-12-1" is not a date YYYY-MM-DD`), never},
		{"history, year zero", "/api/currency?ticker=GBPUSD&end=0000-01-01", false, 400, badRequest(`end "0000-01-01" is not a date YYYY-MM-DD`), never},
		{"history, start after end", "/api/currency?ticker=GBPUSD&start=2017-12-05&end=2017-12-04", false, 400, badRequest("start 2017-12-05 is after end 2017-12-04"), never},
		{"history, cursor not base64", "/api/currency?ticker=GBPUSD&cursor=***", false, 400, badRequest(`cursor "***" is not a cursor of this query: use the next value of the previous page`), never},
		{"history, cursor of another ticker", "/api/currency?ticker=GBPUSD&cursor=" + cursorOf("CURRFX", "EURUSD", "2017-12-04"), false, 400, badRequest(`cursor "` + cursorOf("CURRFX", "EURUSD", "2017-12-04") + `" is not a cursor of this query: use the next value of the previous page`), never},
		{"history, cursor of another table", "/api/interest_rates?ticker=GBPUSD&cursor=" + cursorOf("CURRFX", "GBPUSD", "2017-12-04"), false, 400, badRequest(`cursor "` + cursorOf("CURRFX", "GBPUSD", "2017-12-04") + `" is not a cursor of this query: use the next value of the previous page`), never},
		{"history, cursor with a bad date", "/api/currency?ticker=GBPUSD&cursor=" + cursorOf("CURRFX", "GBPUSD", "2017-13-04"), false, 400, badRequest(`cursor "` + cursorOf("CURRFX", "GBPUSD", "2017-13-04") + `" is not a cursor of this query: use the next value of the previous page`), never},
		{"history, misspelt parameter", "/api/currency?ticker=GBPUSD&from=2017-12-01", false, 400, badRequest(`unknown query parameter "from": this route takes ticker, start, end, cursor`), never},
		{"history, bad query escape", "/api/currency?ticker=%zz", false, 400, badRequest("the query string is not correctly escaped"), never},
		{"history of an unknown job", "/api/crypto?ticker=BTC", false, 404, notFound(`unknown job "crypto": want one of currency, economics, equities, interest_rates, real_estate`), never},
		{"history, store fails", "/api/currency?ticker=GBPUSD", true, 500, internal, never},

		// Paths of no route.
		{"root", "/", false, 404, notFound("no route /: the API's routes start with /api/"), never},
		{"api root", "/api/", false, 404, notFound("no route /api/: see /api/datapoints/{datapoint}, /api/reports/{report}, /api/{job}/latest, /api/{job}?ticker=T"), never},
		{"datapoints without one", "/api/datapoints/", false, 404, notFound("no route /api/datapoints/: see /api/datapoints/{datapoint}, /api/reports/{report}, /api/{job}/latest, /api/{job}?ticker=T"), never},
		{"reports without one", "/api/reports", false, 404, notFound("no route /api/reports: see /api/datapoints/{datapoint}, /api/reports/{report}, /api/{job}/latest, /api/{job}?ticker=T"), never},
		{"trailing slash", "/api/currency/latest/", false, 404, notFound("no route /api/currency/latest/: see /api/datapoints/{datapoint}, /api/reports/{report}, /api/{job}/latest, /api/{job}?ticker=T"), never},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			var logs bytes.Buffer
			reports, market := newReports(), newMarkets()
			reports.broken, market.broken = tc.broken, tc.broken
			h := api.New(reports, market, api.WithPageSize(2), api.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			w := serve(h, http.MethodGet, tc.target)
			if w.Code != tc.wantStatus || w.Body.String() != tc.wantBody {
				t.Errorf("GET %s = %d\n%s\nwant %d\n%s", tc.target, w.Code, w.Body, tc.wantStatus, tc.wantBody)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Errorf("body is not JSON: %s", w.Body)
			}
			h2 := w.Header()
			if h2.Get("Content-Type") != "application/json" || h2.Get("Cache-Control") != tc.wantCache ||
				h2.Get("Content-Length") != fmt.Sprint(w.Body.Len()) || h2.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v, want application/json, Cache-Control %q, Content-Length %d, nosniff", h2, tc.wantCache, w.Body.Len())
			}
			if (h2.Get("ETag") != "") != (tc.wantStatus == 200) {
				t.Errorf("ETag %q on a %d", h2.Get("ETag"), tc.wantStatus)
			}
			if tc.wantStatus == 500 {
				if !strings.Contains(logs.String(), errBoom.Error()) {
					t.Errorf("the cause of a 500 is not logged: %s", logs.String())
				}
				if strings.Contains(w.Body.String(), "10.0.0.7") {
					t.Error("the cause of a 500 reached the client")
				}
			}
			if !strings.Contains(logs.String(), `"msg":"request"`) || !strings.Contains(logs.String(), fmt.Sprintf(`"status":%d`, tc.wantStatus)) {
				t.Errorf("no request line with the status in the log: %s", logs.String())
			}
		})
	}
}

// TestHistoryPages walks every page of a series and asks the store for one
// row more than a page, to know whether there is a next one.
func TestHistoryPages(t *testing.T) {
	market := newMarkets()
	h := api.New(nil, market, api.WithPageSize(1))
	target := "/api/interest_rates?ticker=YIELD&start=2017-12-01"
	var got []string
	for range 10 {
		w := serve(h, http.MethodGet, target)
		var page struct {
			Body []map[string]*string `json:"body"`
			Next *string              `json:"next"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || w.Code != 200 {
			t.Fatalf("GET %s = %d %s (%v)", target, w.Code, w.Body, err)
		}
		for _, row := range page.Body {
			v := "null"
			if row["value"] != nil {
				v = *row["value"]
			}
			got = append(got, *row["date"]+" "+*row["key"]+" "+v)
		}
		if page.Next == nil {
			break
		}
		target = "/api/interest_rates?ticker=YIELD&start=2017-12-01&cursor=" + *page.Next
	}
	want := []string{"2017-12-01 1_mo 1.14", "2017-12-04 1_mo null", "2017-12-04 30_yr 2.77"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages = %q, want %q", got, want)
	}
	if len(market.calls) != 3 || !strings.HasSuffix(market.calls[0], " 2") {
		t.Errorf("History calls %q: want 3, each asking for the page size + 1", market.calls)
	}
}

func TestMethods(t *testing.T) {
	h := api.New(newReports(), newMarkets())
	get := serve(h, http.MethodGet, "/api/currency/latest")
	testCases := []struct {
		name, method, target string
		header               []string
		wantStatus           int
		wantBody             string
		wantAllow            string
	}{
		{"HEAD: GET's headers, no body", http.MethodHead, "/api/currency/latest", nil, 200, "", ""},
		{"HEAD of an error", http.MethodHead, "/api/crypto/latest", nil, 404, "", ""},
		{"POST", http.MethodPost, "/api/currency/latest", nil, 405, `{"error":{"code":"method_not_allowed","message":"method POST is not allowed: use GET or HEAD"}}`, "GET, HEAD, OPTIONS"},
		{"DELETE a datapoint", http.MethodDelete, "/api/datapoints/10-50%7CSLICE_IT", nil, 405, `{"error":{"code":"method_not_allowed","message":"method DELETE is not allowed: use GET or HEAD"}}`, "GET, HEAD, OPTIONS"},
		{"PUT to no route", http.MethodPut, "/api/nothing/here", nil, 404, `{"error":{"code":"not_found","message":"no route /api/nothing/here: see /api/datapoints/{datapoint}, /api/reports/{report}, /api/{job}/latest, /api/{job}?ticker=T"}}`, ""},
		{"OPTIONS", http.MethodOptions, "/api/reports/bracket-method", nil, 204, "", "GET, HEAD, OPTIONS"},
		{"If-None-Match: the ETag", http.MethodGet, "/api/currency/latest", []string{"If-None-Match", get.Header().Get("ETag")}, 304, "", ""},
		{"If-None-Match: weak, in a list", http.MethodGet, "/api/currency/latest", []string{"If-None-Match", `"other", W/` + get.Header().Get("ETag")}, 304, "", ""},
		{"If-None-Match: *", http.MethodGet, "/api/currency/latest", []string{"If-None-Match", "*"}, 304, "", ""},
		{"If-None-Match: another ETag", http.MethodGet, "/api/currency/latest", []string{"If-None-Match", `"other"`}, 200, get.Body.String(), ""},
		{"HEAD with the ETag", http.MethodHead, "/api/currency/latest", []string{"If-None-Match", get.Header().Get("ETag")}, 304, "", ""},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			w := serve(h, tc.method, tc.target, tc.header...)
			if w.Code != tc.wantStatus || w.Body.String() != tc.wantBody || w.Header().Get("Allow") != tc.wantAllow {
				t.Errorf("%s %s = %d %q Allow %q; want %d %q Allow %q", tc.method, tc.target, w.Code, w.Body, w.Header().Get("Allow"), tc.wantStatus, tc.wantBody, tc.wantAllow)
			}
			if tc.name == "HEAD: GET's headers, no body" {
				for _, k := range []string{"Content-Type", "Content-Length", "ETag", "Cache-Control"} {
					if w.Header().Get(k) != get.Header().Get(k) {
						t.Errorf("HEAD %s = %q, GET's = %q", k, w.Header().Get(k), get.Header().Get(k))
					}
				}
			}
			if w.Code == 304 && (w.Header().Get("ETag") != get.Header().Get("ETag") || w.Header().Get("Cache-Control") != "private, max-age=60") {
				t.Errorf("304 headers %v: want GET's ETag and Cache-Control", w.Header())
			}
		})
	}
	if get.Header().Get("ETag") == serve(h, http.MethodGet, "/api/interest_rates/latest").Header().Get("ETag") {
		t.Error("two different answers share an ETag")
	}
}

func TestCORS(t *testing.T) {
	const ui = "https://reports.example.com"
	testCases := []struct {
		name, allow, method, origin string
		preflight                   bool
		wantOrigin, wantVary        string
		wantMethods                 string
	}{
		{"no CORS configured", "", http.MethodGet, ui, false, "", "", ""},
		{"allowed origin", ui, http.MethodGet, ui, false, ui, "Origin", ""},
		{"allowed origin, configured with a slash, among others", "https://a.example, " + ui + "/", http.MethodGet, ui, false, ui, "Origin", ""},
		{"other origin", ui, http.MethodGet, "https://evil.example", false, "", "Origin", ""},
		{"no origin", ui, http.MethodGet, "", false, "", "Origin", ""},
		{"any origin", "*", http.MethodGet, "https://any.example", false, "*", "", ""},
		{"preflight from the UI", ui, http.MethodOptions, ui, true, ui, "Origin", "GET, HEAD"},
		{"preflight from another origin", ui, http.MethodOptions, "https://evil.example", true, "", "Origin", ""},
		{"error answers carry CORS too", ui, http.MethodPost, ui, false, ui, "Origin", ""},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			h := api.New(newReports(), newMarkets(), api.WithAllowOrigin(tc.allow))
			var header []string
			if tc.origin != "" {
				header = append(header, "Origin", tc.origin)
			}
			if tc.preflight {
				header = append(header, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization,x-amz-date")
			}
			w := serve(h, tc.method, "/api/currency/latest", header...)
			hd := w.Header()
			if hd.Get("Access-Control-Allow-Origin") != tc.wantOrigin || hd.Get("Vary") != tc.wantVary || hd.Get("Access-Control-Allow-Methods") != tc.wantMethods {
				t.Errorf("headers %v; want Allow-Origin %q, Vary %q, Allow-Methods %q", hd, tc.wantOrigin, tc.wantVary, tc.wantMethods)
			}
			if tc.wantOrigin != "" && !tc.preflight && hd.Get("Access-Control-Expose-Headers") != "ETag" {
				t.Errorf("Access-Control-Expose-Headers %q, want ETag", hd.Get("Access-Control-Expose-Headers"))
			}
			if tc.wantMethods != "" {
				if w.Code != 204 || !strings.Contains(hd.Get("Access-Control-Allow-Headers"), "X-Amz-Date") || !strings.Contains(hd.Get("Access-Control-Allow-Headers"), "Authorization") {
					t.Errorf("preflight %d, Allow-Headers %q", w.Code, hd.Get("Access-Control-Allow-Headers"))
				}
			}
		})
	}
}

// TestWithoutASource: a deployment without reports or without market data
// answers those routes 404.
func TestWithoutASource(t *testing.T) {
	for _, tc := range []struct {
		h      http.Handler
		target string
		want   string
	}{
		{api.New(nil, newMarkets()), "/api/datapoints/10-50%7CSLICE_IT", "this API serves no reports"},
		{api.New(nil, newMarkets()), "/api/reports/bracket-method", "this API serves no reports"},
		{api.New(newReports(), nil), "/api/currency/latest", "this API serves no market data"},
		{api.New(newReports(), nil), "/api/currency?ticker=GBPUSD", "this API serves no market data"},
	} {
		w := serve(tc.h, http.MethodGet, tc.target)
		if w.Code != 404 || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("GET %s = %d %s, want 404 %q", tc.target, w.Code, w.Body, tc.want)
		}
	}
}

// TestRowsEscapeText: text that needs escaping still makes valid JSON.
func TestRowsEscapeText(t *testing.T) {
	market := &fakeMarkets{rows: map[markets.Job][]string{
		markets.RealEstate: {"ZILLOW|Z94108_ZHVIAH|2017-11-30|1206200.0|Z\"\\\t<é|ZHVIAH|94108"},
	}}
	w := serve(api.New(nil, market), http.MethodGet, "/api/real_estate/latest")
	var got struct{ Body []map[string]string }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got.Body) != 1 || got.Body[0]["area_category"] != "Z\"\\\t<é" {
		t.Errorf("body %s (%v)", w.Body, err)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
