package lake_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/markets"
)

// The lake is read back as Athena reads it: by a SQL engine over
// Hive-partitioned Parquet (DuckDB, in process), with the Glue tables'
// names, so the README's Athena queries run as written.

// lakeData is a series of every job, the stocks over five years.
func lakeData() []markets.Series {
	gbp := series(markets.Currency, "CURRFX", "GBPUSD", []string{"rate", "high_est", "low_est"},
		obs(day(2017, 1, 2), "1.2337", "1.2375", "1.2300"),
		obs(day(2017, 1, 3), "1.2263", "", ""))
	out := []markets.Series{eurusd(), gbp, yields(),
		series(markets.Economics, "FRED", "GDP", []string{"value"}, obs(day(2016, 10, 1), "18905.545"), obs(day(2017, 1, 1), "19057.705")),
		series(markets.RealEstate, "ZILLOW", "Z94108_ZHVIAH", []string{"value"}, obs(day(2017, 11, 30), "1204500"), obs(day(2017, 12, 31), "1211100")),
	}
	cols := []string{"open", "high", "low", "close", "volume", "ex_dividend", "split_ratio", "adj_open", "adj_high", "adj_low", "adj_close", "adj_volume"}
	for i, ticker := range []string{"FB", "AMZN"} {
		s := series(markets.Equities, "WIKI", ticker, cols)
		for y := 2014; y <= 2018; y++ {
			for d := 2; d <= 2+y%4; d++ {
				c := fmt.Sprintf("%d.%02d", 100*(i+1)+y%100+d, (y*d)%100)
				s.Rows = append(s.Rows, obs(day(y, 1, d), c, c, c, c, "1000000.0", "0.0", "1.0", c, c, c, c, "1000000.0"))
			}
		}
		out = append(out, s)
	}
	return out
}

// download copies every object under the lake's prefix into dir, keeping
// its key as the path: year=YYYY directories, as Athena sees them.
func (f *fixture) download(t *testing.T, dir string) {
	t.Helper()
	p := s3.NewListObjectsV2Paginator(f.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			rel := strings.TrimPrefix(aws.ToString(o.Key), prefix+"/")
			body, _ := f.object(t, rel)
			path := filepath.Join(dir, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// openDuckDB opens an in-memory DuckDB with the schema markets_lake holding
// one view per table over the downloaded objects, partitioned by year as
// the Glue tables are.
func openDuckDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatalf("open DuckDB: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	mustExec(t, db, "CREATE SCHEMA markets_lake")
	for _, tb := range markets.Tables() {
		files := filepath.ToSlash(filepath.Join(dir, tb.Name, lake.PartitionColumn+"=*", "*.parquet"))
		source := fmt.Sprintf("read_parquet('%s', hive_partitioning = true, hive_types = {'year': INTEGER})", files)
		if tb.Name == markets.MarketsTable.Name {
			source = fmt.Sprintf("read_parquet('%s')", filepath.ToSlash(filepath.Join(dir, lake.MarketsKey)))
		}
		mustExec(t, db, fmt.Sprintf("CREATE VIEW markets_lake.%s AS SELECT * FROM %s", tb.Name, source))
	}
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// query runs q and returns its rows as text: dates YYYY-MM-DD, decimals
// exactly, NULL for NULL.
func query(t *testing.T, db *sql.DB, q string) [][]string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var r []string
		for _, v := range vals {
			switch v := v.(type) {
			case nil:
				r = append(r, "NULL")
			case time.Time:
				r = append(r, v.Format(time.DateOnly))
			case duckdb.Decimal:
				r = append(r, new(big.Rat).SetFrac(v.Value, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(v.Scale)), nil)).RatString())
			default:
				r = append(r, fmt.Sprint(v))
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameNumber reports whether two decimal texts are the same number.
func sameNumber(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}

// duckType is DuckDB's name of a Hive type.
func duckType(hive string) string {
	switch {
	case hive == "string":
		return "VARCHAR"
	case strings.HasPrefix(hive, "decimal"):
		return strings.ToUpper(hive)
	}
	return strings.ToUpper(hive)
}

func TestDuckDBReadsTheLakeAsAthena(t *testing.T) {
	f := newFixture(t)
	data := lakeData()
	for _, s := range data {
		f.upsert(t, s)
	}
	dir := t.TempDir()
	f.download(t, dir)
	db := openDuckDB(t, dir)

	t.Run("types are the Glue tables'", func(t *testing.T) {
		for _, tb := range markets.Tables() {
			want := map[string]string{}
			for _, c := range lake.HiveColumns(tb) {
				want[c.Name] = duckType(c.Type)
			}
			if tb.Name != markets.MarketsTable.Name {
				want[lake.PartitionColumn] = "INTEGER"
			}
			got := map[string]string{}
			for _, r := range query(t, db, "DESCRIBE markets_lake."+tb.Name) {
				got[r[0]] = r[1]
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: DuckDB sees\n%v\nwant\n%v", tb.Name, got, want)
			}
		}
	})

	t.Run("every value as written", func(t *testing.T) {
		for _, s := range data {
			b := layout(t, s)
			cols := make([]string, len(b.Columns))
			for i, c := range b.Columns {
				cols[i] = c
				if b.Table.Columns[b.Table.Index(c)].Kind == markets.Decimal {
					cols[i] = "CAST(" + c + " AS VARCHAR)"
				}
			}
			q := fmt.Sprintf("SELECT %s, year FROM markets_lake.%s WHERE dataset = '%s' AND ticker = '%s' ORDER BY %s",
				strings.Join(cols, ", "), b.Table.Name, s.Dataset.Database, s.Dataset.Ticker, strings.Join(b.Table.Key, ", "))
			got := query(t, db, q)
			want := b.Rows
			keys := make([]int, len(b.Table.Key))
			for i, k := range b.Table.Key {
				keys[i] = b.Column(k)
			}
			slices.SortFunc(want, func(x, y []markets.Value) int {
				for _, k := range keys {
					if c := strings.Compare(x[k].Text, y[k].Text); c != 0 {
						return c
					}
				}
				return 0
			})
			if len(got) != len(want) {
				t.Fatalf("%s: DuckDB reads %d rows, want %d", s.Dataset, len(got), len(want))
			}
			for i, r := range want {
				for j, v := range r {
					g := got[i][j]
					if g == v.String() || b.Table.Columns[b.Table.Index(b.Columns[j])].Kind == markets.Decimal && sameNumber(g, v.Text) {
						continue
					}
					t.Errorf("%s row %d %s: DuckDB reads %s, written %s", s.Dataset, i, b.Columns[j], g, v)
				}
				if year := got[i][len(r)]; year != r[b.Column(markets.ColDate)].Text[:4] {
					t.Errorf("%s row %d: year partition %s, date %s", s.Dataset, i, year, r[b.Column(markets.ColDate)])
				}
			}
		}
	})

	t.Run("the README's Athena queries", func(t *testing.T) {
		queries := readmeQueries(t)
		if len(queries) != 3 {
			t.Fatalf("found %d SQL blocks in the README's lake section, want 3", len(queries))
		}
		// The latest rate of each currency.
		if got, want := query(t, db, queries[0]), [][]string{{"EUR", "2017-01-03", "2081/2000"}, {"GBP", "2017-01-03", "12263/10000"}}; !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("latest rates\n%v\nwant\n%v", got, want)
		}
		// The yearly average close, computed here from the data.
		var want [][]string
		for y := 2015; y <= 2017; y++ {
			for _, s := range data[len(data)-1:] { // AMZN sorts before FB
				want = append(want, averageClose(s, y))
			}
			for _, s := range data[len(data)-2 : len(data)-1] {
				want = append(want, averageClose(s, y))
			}
		}
		got := query(t, db, queries[1])
		if len(got) != len(want) {
			t.Fatalf("yearly averages\n%v\nwant\n%v", got, want)
		}
		for i := range want {
			g, w := got[i], want[i]
			gotAvg, _ := new(big.Rat).SetString(g[2])
			wantAvg, _ := new(big.Rat).SetString(w[2])
			diff, _ := new(big.Rat).Sub(gotAvg, wantAvg).Float64()
			if g[0] != w[0] || g[1] != w[1] || g[3] != w[3] || diff > 1e-9 || diff < -1e-9 {
				t.Errorf("yearly average row %d: %v, want %v", i, g, w)
			}
		}
		// The series.
		var series [][]string
		for _, s := range data {
			series = append(series, []string{s.Dataset.Database, s.Dataset.Ticker, s.Dataset.Description})
		}
		slices.SortFunc(series, func(a, b []string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
		if got := query(t, db, queries[2]); !slices.EqualFunc(got, series, slices.Equal) {
			t.Errorf("series\n%v\nwant\n%v", got, series)
		}
	})
}

// averageClose returns the row the yearly-average query gives for a stock
// and year: year, ticker, the exact average close, the number of days.
func averageClose(s markets.Series, year int) []string {
	sum, n := new(big.Rat), 0
	for _, r := range s.Rows {
		if r.Date.Year == year {
			v, _ := new(big.Rat).SetString(r.Values[3])
			sum.Add(sum, v)
			n++
		}
	}
	return []string{fmt.Sprint(year), s.Dataset.Ticker, sum.Quo(sum, big.NewRat(int64(n), 1)).RatString(), fmt.Sprint(n)}
}

// readmeQueries returns the SQL blocks of the README's lake section.
func readmeQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## The lake (S3 + Athena)\n")
	if !ok {
		t.Fatal(`README.md has no section "## The lake (S3 + Athena)"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(section, -1) {
		out = append(out, strings.TrimSuffix(strings.TrimSpace(m[1]), ";"))
	}
	return out
}
