package api_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/jackc/pgx/v5"

	"github.com/acmecheckout/reports/internal/api"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/simulate"
	"github.com/acmecheckout/reports/internal/testenv"
	"github.com/acmecheckout/reports/internal/warehouse"
	"github.com/acmecheckout/reports/internal/warehouse/warehousetest"
)

// The read API's latency, in process, over the emulators and PostgreSQL the
// tests use: the handler, the store and the round trips, not Lambda or the
// network. Each is measured beside the same answer computed the naive way:
// a report by a Scan of the whole datapoints table, the latest rows by a read
// of the job's whole table. Figures per request: p50-ms and p99-ms (of the
// b.N requests), allocs/op (the whole process: handler, SDK, pgx).

// Workload of the benchmarks.
const (
	benchPurchases = 20000 // over benchDays days: about 10,000 datapoints
	benchDays      = 14
	benchMerchants = 200
	benchYears     = 20 // of daily rates per currency series: about 14,600 rows
	minSamples     = 30 // requests timed for the percentiles, at least
)

// startDynamoDB points the SDK's standard settings at the test binary's
// DynamoDB Local and returns a client.
func startDynamoDB(b testing.TB) *dynamodb.Client {
	b.Helper()
	testenv.DynamoDBLocal(b)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return dynamodb.NewFromConfig(cfg)
}

func BenchmarkReadAPI(b *testing.B) {
	b.Run("report-day", func(b *testing.B) {
		c := startDynamoDB(b)
		table, _ := testenv.Tables(b, c, false)
		day := mustCountPurchases(b, c, table)
		target := "/api/reports/day-merchant?day=" + day
		for _, impl := range []struct {
			name    string
			reports api.Reports
		}{
			{"ours", dynamo.New(c, table)},
			{"naive", scanReports{c, table}},
		} {
			b.Run(impl.name, func(b *testing.B) { benchRequests(b, api.New(impl.reports, nil), target) })
		}
	})
	b.Run("currency-latest", func(b *testing.B) {
		url := mustLoadRates(b)
		r, err := warehouse.OpenReadOnly(url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(r.Close)
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close(context.Background()) })
		for _, impl := range []struct {
			name   string
			market api.MarketData
		}{
			{"ours", r},
			{"naive", fullReadMarkets{conn}},
		} {
			b.Run(impl.name, func(b *testing.B) { benchRequests(b, api.New(nil, impl.market), "/api/currency/latest") })
		}
	})
}

// benchRequests serves b.N GETs of target, checks each is a 200 with the
// same body as the first, and reports the latency percentiles.
func benchRequests(b *testing.B, h http.Handler, target string) {
	first := serve(h, http.MethodGet, target)
	if first.Code != 200 || first.Body.Len() < 100 {
		b.Fatalf("GET %s = %d %s", target, first.Code, first.Body)
	}
	want := first.Body.String()
	var took []time.Duration
	request := func() {
		start := time.Now()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		took = append(took, time.Since(start))
		if w.Code != 200 || w.Body.String() != want {
			b.Fatalf("GET %s = %d, a different answer", target, w.Code)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		request()
	}
	b.StopTimer()
	// A slow design gets few iterations in the benchmark time: percentiles
	// need more samples.
	for len(took) < minSamples {
		request()
	}
	slices.Sort(took)
	at := func(q float64) float64 {
		return float64(took[min(len(took)-1, int(q*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(first.Body.Len()), "bytes/answer")
}

// mustCountPurchases counts simulated purchases into table through the
// aggregator's store and returns the busiest day.
func mustCountPurchases(b *testing.B, c *dynamodb.Client, table string) string {
	b.Helper()
	msgs, err := simulate.Generate(simulate.Config{Seed: 7, Count: benchPurchases, Merchants: benchMerchants, Days: benchDays})
	if err != nil {
		b.Fatal(err)
	}
	ds := make([]purchase.Delivery, 0, len(msgs))
	perDay := map[string]int{}
	for i, m := range msgs {
		e, err := purchase.Parse(m.Body)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, purchase.Delivery{Identity: strconv.Itoa(i), Event: e})
		perDay[purchase.Day(e.Time)]++
	}
	s := dynamo.New(c, table, dynamo.WithConcurrency(16))
	for chunk := range slices.Chunk(ds, 2000) {
		res, err := s.Add(context.Background(), chunk)
		if err != nil || len(res.Failed) > 0 {
			b.Fatalf("count: %v, %d failed", err, len(res.Failed))
		}
	}
	busiest := ""
	for d, n := range perDay {
		if n > perDay[busiest] || (n == perDay[busiest] && d < busiest) {
			busiest = d
		}
	}
	return busiest
}

// mustLoadRates loads benchYears of daily rates of both currency series into
// a fresh warehouse and returns its URL.
func mustLoadRates(b *testing.B) string {
	b.Helper()
	first := markets.Date{Year: 2000, Month: 1, Day: 1}
	var series []markets.Series
	for _, ds := range markets.Currency.Datasets() {
		s := markets.Series{Dataset: ds, Columns: []string{"rate", "high_est", "low_est"}}
		for i := range benchYears * 365 {
			v := fmt.Sprintf("1.%04d", i%10000)
			s.Rows = append(s.Rows, markets.Row{Date: first.AddDays(i), Values: []string{v, v, v}})
		}
		series = append(series, s)
	}
	return warehousetest.Load(b, series...)
}

// scanReports is the naive report reader: a Scan of the whole datapoints
// table, keeping the report's (and day's) datapoints.
type scanReports struct {
	c     *dynamodb.Client
	table string
}

func (s scanReports) Get(context.Context, string) (purchase.Total, error) {
	return purchase.Total{}, errors.New("not measured")
}

func (s scanReports) List(ctx context.Context, r purchase.Report, day string) ([]purchase.Total, error) {
	out := []purchase.Total{}
	pages := dynamodb.NewScanPaginator(s.c, &dynamodb.ScanInput{TableName: aws.String(s.table)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, item := range page.Items {
			k, _ := item[dynamo.AttrDatapoint].(*types.AttributeValueMemberS)
			n, _ := item[dynamo.AttrEvents].(*types.AttributeValueMemberN)
			if k == nil || n == nil {
				continue
			}
			dp, err := purchase.ParseDatapoint(k.Value)
			if err != nil || dp.Report != r || dp.Day() != day {
				continue
			}
			events, err := strconv.ParseInt(n.Value, 10, 64)
			if err != nil {
				return nil, err
			}
			out = append(out, purchase.Total{Datapoint: k.Value, Events: events})
		}
	}
	slices.SortFunc(out, func(a, b purchase.Total) int { return cmp.Compare(a.Datapoint, b.Datapoint) })
	return out, nil
}

// fullReadMarkets is the naive market data reader: it reads the job's whole
// table and keeps each series' newest date.
type fullReadMarkets struct{ conn *pgx.Conn }

func (f fullReadMarkets) Latest(ctx context.Context, job markets.Job) (markets.Batch, error) {
	t, _ := job.Table()
	rows, err := f.conn.Query(ctx, "SELECT * FROM dw."+pgx.Identifier{t.Name}.Sanitize(), pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return markets.Batch{}, err
	}
	defer rows.Close()
	b := markets.Batch{Table: t, Columns: t.ColumnNames()}
	date := t.Index(markets.ColDate)
	newest := map[string]string{}
	var all [][]markets.Value
	for rows.Next() {
		row := make([]markets.Value, len(t.Columns))
		for i, v := range rows.RawValues() { // text under the simple protocol
			row[i] = markets.Value{Text: string(v), Valid: v != nil}
		}
		all = append(all, row)
		s := row[0].Text + "|" + row[1].Text
		newest[s] = max(newest[s], row[date].Text)
	}
	if err := rows.Err(); err != nil {
		return markets.Batch{}, err
	}
	for _, row := range all {
		if newest[row[0].Text+"|"+row[1].Text] == row[date].Text {
			b.Rows = append(b.Rows, row)
		}
	}
	sort.Slice(b.Rows, func(i, j int) bool { return b.Key(b.Rows[i]) < b.Key(b.Rows[j]) })
	return b, nil
}

func (f fullReadMarkets) History(context.Context, markets.Job, string, markets.Date, markets.Date, []markets.Value, int) (markets.Batch, error) {
	return markets.Batch{}, errors.New("not measured")
}
