package quandl_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/quandl"
)

// BenchmarkDecode decodes a year of WIKI prices (252 dates × 13 columns),
// the largest chunk a run fetches.
func BenchmarkDecode(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"dataset_data":{"limit":null,"transform":null,"column_index":null,"column_names":["Date","Open","High","Low","Close","Volume","Ex-Dividend","Split Ratio","Adj. Open","Adj. High","Adj. Low","Adj. Close","Adj. Volume"],"start_date":"2017-01-01","end_date":"2017-12-31","frequency":"daily","data":[`)
	d := markets.Date{Year: 2017, Month: 1, Day: 1}
	for i := range 252 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `["%s",176.03,177.2,175.32,176.94,14347960.0,0.0,1.0,176.03,177.2,175.32,176.94,14347960.0]`, d.AddDays(i))
	}
	sb.WriteString(`],"collapse":null,"order":"asc"}}`)
	body := []byte(sb.String())
	ds := markets.Dataset{Job: markets.Equities, Database: "WIKI", Ticker: "FB"}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := quandl.Decode(ds, body); err != nil {
			b.Fatal(err)
		}
	}
}
