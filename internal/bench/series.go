package bench

import (
	"fmt"

	"github.com/acmecheckout/reports/internal/markets"
)

// EquitiesSeries is the series the ETL upsert benchmarks load into each sink
// (PostgreSQL, the lake): n consecutive days of WIKI/FB from 1800-01-01,
// with every one of the 12 value columns set.
func EquitiesSeries(n int) markets.Series {
	s := markets.Series{
		Dataset: markets.Dataset{Job: markets.Equities, Database: "WIKI", Ticker: "FB", Description: "Facebook Inc. (FB) Prices"},
		Columns: []string{"open", "high", "low", "close", "volume", "ex_dividend", "split_ratio", "adj_open", "adj_high", "adj_low", "adj_close", "adj_volume"},
	}
	d := markets.Date{Year: 1800, Month: 1, Day: 1}
	for i := range n {
		p := func(k int) string { return fmt.Sprintf("%d.%02d", 100+(i+k)%900, (i*7+k)%100) }
		vol := fmt.Sprintf("%d.0", 1_000_000+i*37%9_000_000)
		s.Rows = append(s.Rows, markets.Row{Date: d, Values: []string{
			p(0), p(3), p(2), p(1), vol, "0.0", "1.0", p(0) + "1234", p(3) + "1234", p(2) + "1234", p(1) + "1234", vol,
		}})
		d = d.AddDays(1)
	}
	return s
}
