package lake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/testenv"
)

// The lake every test writes: bucket and prefix.
const (
	bucket  = "lake-bucket"
	prefix  = "markets-lake"
	lakeURL = "s3://" + bucket + "/" + prefix
)

// fixture is a lake on an in-process gofakes3 server, with a plain SDK
// client to look at the bucket the way an operator would.
type fixture struct {
	lake   *lake.Lake
	client *s3.Client
}

// newFixture starts gofakes3 with a versioned bucket (so every write shows
// as a version) and opens the lake through the SDK's standard settings.
func newFixture(t testing.TB, opts ...lake.Option) *fixture {
	t.Helper()
	testenv.GoFakeS3(t, bucket)
	return openFixture(t, opts...)
}

// openFixture opens the lake on the S3 server AWS_ENDPOINT_URL_S3 names.
func openFixture(t testing.TB, opts ...lake.Option) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	_, err = client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Fatalf("enable versioning: %v", err)
	}
	l, err := lake.Open(ctx, lakeURL, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return &fixture{lake: l, client: client}
}

// versions returns how many versions each key under the prefix has: one per
// write.
func (f *fixture) versions(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	p := s3.NewListObjectVersionsPaginator(f.client, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list versions: %v", err)
		}
		for _, v := range page.Versions {
			out[strings.TrimPrefix(aws.ToString(v.Key), prefix+"/")]++
		}
	}
	return out
}

// object returns an object's content and metadata.
func (f *fixture) object(t testing.TB, key string) ([]byte, map[string]string) {
	t.Helper()
	out, err := f.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + "/" + key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, out.Metadata
}

// putRaw writes an object as something other than the lake would.
func (f *fixture) putRaw(t testing.TB, key string, body []byte) {
	t.Helper()
	_, err := f.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + "/" + key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// upsert lays s out and upserts it, failing the test on error.
func (f *fixture) upsert(t testing.TB, s markets.Series) int {
	t.Helper()
	n, err := f.lake.Upsert(context.Background(), layout(t, s))
	if err != nil {
		t.Fatalf("Upsert %s: %v", s.Dataset, err)
	}
	return n
}

func layout(t testing.TB, s markets.Series) markets.Batch {
	t.Helper()
	b, err := markets.Layout(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func day(y int, m int, d int) markets.Date { return markets.Date{Year: y, Month: timeMonth(m), Day: d} }

// series builds a series of the catalog's dataset db/ticker of job.
func series(job markets.Job, db, ticker string, cols []string, rows ...markets.Row) markets.Series {
	ds := markets.Dataset{Job: job, Database: db, Ticker: ticker, Description: db + "/" + ticker}
	for _, c := range job.Datasets() {
		if c.Database == db && c.Ticker == ticker {
			ds = c
		}
	}
	return markets.Series{Dataset: ds, Columns: cols, Rows: rows}
}

func obs(d markets.Date, values ...string) markets.Row { return markets.Row{Date: d, Values: values} }

// eurusd is CURRFX/EURUSD over a new year: rows in 2016 and 2017.
func eurusd() markets.Series {
	return series(markets.Currency, "CURRFX", "EURUSD", []string{"rate", "high_est", "low_est"},
		obs(day(2016, 12, 29), "1.0496", "1.0520", "1.0440"),
		obs(day(2016, 12, 30), "1.0517", "", "1.0454"),
		obs(day(2017, 1, 2), "1.0455", "1.0479", "1.0413"),
		obs(day(2017, 1, 3), "1.0405", "1.0476", "1.0340"),
	)
}

func TestUpsertWritesOneObjectPerSeriesAndYear(t *testing.T) {
	f := newFixture(t)
	if n := f.upsert(t, eurusd()); n != 4 {
		t.Errorf("first load wrote %d rows, want 4", n)
	}
	want := map[string]int{
		"currency/year=2016/CURRFX.EURUSD.parquet": 1,
		"currency/year=2017/CURRFX.EURUSD.parquet": 1,
		"markets/data.parquet":                     1,
	}
	if got := f.versions(t); !maps.Equal(got, want) {
		t.Fatalf("objects %v, want %v", got, want)
	}
	for key := range want {
		body, meta := f.object(t, key)
		if !bytes.HasPrefix(body, []byte("PAR1")) || !bytes.HasSuffix(body, []byte("PAR1")) {
			t.Errorf("%s is not a Parquet file", key)
		}
		if meta[lake.MetadataSHA256] != sha256Hex(body) {
			t.Errorf("%s: sha256 metadata %q, want the content's hash %s", key, meta[lake.MetadataSHA256], sha256Hex(body))
		}
	}

	t.Run("a re-run writes nothing", func(t *testing.T) {
		if n := f.upsert(t, eurusd()); n != 0 {
			t.Errorf("re-run wrote %d rows, want 0", n)
		}
		// A new Lake (a cold start) does not know what it wrote before.
		if n, err := openFixture(t).lake.Upsert(context.Background(), layout(t, eurusd())); err != nil || n != 0 {
			t.Errorf("re-run from a new Lake: %d rows, %v; want 0, nil", n, err)
		}
		if got := f.versions(t); !maps.Equal(got, want) {
			t.Errorf("after re-runs, versions %v, want %v (nothing rewritten)", got, want)
		}
	})

	t.Run("an upstream change rewrites that year only", func(t *testing.T) {
		s := eurusd()
		s.Rows[3].Values[0] = "1.0406"
		if n := f.upsert(t, s); n != 1 {
			t.Errorf("changed one value: %d rows written, want 1", n)
		}
		want["currency/year=2017/CURRFX.EURUSD.parquet"]++
		if got := f.versions(t); !maps.Equal(got, want) {
			t.Errorf("versions %v, want %v", got, want)
		}
	})

	t.Run("the same number in another notation is no change", func(t *testing.T) {
		s := eurusd()
		s.Rows[3].Values[0] = "1.04060000"
		s.Rows[2].Values[0] = "10.455e-1"
		if n := f.upsert(t, s); n != 0 {
			t.Errorf("wrote %d rows, want 0", n)
		}
		if got := f.versions(t); !maps.Equal(got, want) {
			t.Errorf("versions %v, want %v", got, want)
		}
	})
}

func TestUpsertKeepsColumnsTheBatchLacks(t *testing.T) {
	f := newFixture(t)
	f.upsert(t, eurusd())
	// An answer without high_est and low_est, and a new date.
	s := series(markets.Currency, "CURRFX", "EURUSD", []string{"rate"},
		obs(day(2017, 1, 3), "1.0410"), obs(day(2017, 1, 4), "1.0492"))
	if n := f.upsert(t, s); n != 2 {
		t.Errorf("wrote %d rows, want 2 (one changed, one new)", n)
	}
	got := history(t, f.lake, markets.Currency, "EURUSD", day(2017, 1, 1), day(2017, 12, 31))
	want := [][]string{
		{"CURRFX", "EURUSD", "EUR", "2017-01-02", "1.0455", "1.0479", "1.0413"},
		{"CURRFX", "EURUSD", "EUR", "2017-01-03", "1.041", "1.0476", "1.034"},
		{"CURRFX", "EURUSD", "EUR", "2017-01-04", "1.0492", "NULL", "NULL"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("rows\n%v\nwant\n%v", got, want)
	}
}

func TestUpsertNeverRounds(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		value, want string
	}{
		{"0.000000000000000001", "0.000000000000000001"},
		{"-99999999999999999999.999999999999999999", "-99999999999999999999.999999999999999999"},
		{"2.5e-05", "0.000025"},
		{"1.5E+3", "1500"},
		{"-0", "0"},
		{"7.100000000000000000000", "7.1"},
	}
	for i, tc := range cases {
		s := series(markets.Economics, "FRED", "GDP", []string{"value"}, obs(day(2000, 1, 1+i), tc.value))
		f.upsert(t, s)
	}
	got := history(t, f.lake, markets.Economics, "GDP", day(2000, 1, 1), day(2000, 12, 31))
	for i, tc := range cases {
		if v := got[i][3]; v != tc.want {
			t.Errorf("%s stored as %s, want %s", tc.value, v, tc.want)
		}
	}

	before := f.versions(t)
	for _, bad := range []string{"0.0000000000000000001", "100000000000000000000", "1e20", "1.00000000000000000001", "1e-19", "1e999999999"} {
		s := series(markets.Economics, "FRED", "GDP", []string{"value"}, obs(day(2000, 2, 1), "1"), obs(day(2000, 2, 2), bad))
		_, err := f.lake.Upsert(context.Background(), layout(t, s))
		if err == nil || !strings.Contains(err.Error(), "DECIMAL(38,18) cannot hold it exactly") || !strings.Contains(err.Error(), bad) {
			t.Errorf("Upsert of %s: %v, want an error naming the value and DECIMAL(38,18)", bad, err)
		}
	}
	if after := f.versions(t); !maps.Equal(after, before) {
		t.Errorf("a rejected series wrote objects: %v, before %v", after, before)
	}
}

func TestUpsertRejectsBadBatches(t *testing.T) {
	f := newFixture(t)
	good := layout(t, eurusd())
	cases := []struct {
		name string
		edit func(b *markets.Batch)
		want string
	}{
		{"unknown table", func(b *markets.Batch) { b.Table.Name = "bonds" }, `unknown job "bonds"`},
		{"altered table", func(b *markets.Batch) { b.Table.Columns = b.Table.Columns[:3] }, "not one of the markets tables"},
		{"markets table", func(b *markets.Batch) { b.Table = markets.MarketsTable }, `unknown job "markets"`},
		{"missing key column", func(b *markets.Batch) {
			b.Columns = b.Columns[1:]
			for i := range b.Rows {
				b.Rows[i] = b.Rows[i][1:]
			}
		}, `lacks key column "dataset"`},
		{"unknown column", func(b *markets.Batch) { b.Columns = slices.Clone(b.Columns); b.Columns[4] = "bid" }, `"bid" is not a column`},
		{"bad date", func(b *markets.Batch) { b.Rows[0][3] = markets.TextValue("2017-02-30") }, "date"},
		{"row of another dataset", func(b *markets.Batch) { b.Rows[1][1] = markets.TextValue("GBPUSD") }, "not to the batch's dataset"},
		{"repeated key", func(b *markets.Batch) { b.Rows[1] = b.Rows[0] }, "two rows have the key"},
		{"hidden dataset", func(b *markets.Batch) { b.Dataset.Database = "_tmp" }, "Athena would not see"},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			b := good
			b.Rows = make([][]markets.Value, len(good.Rows))
			for i, r := range good.Rows {
				b.Rows[i] = slices.Clone(r)
			}
			tc.edit(&b)
			if _, err := f.lake.Upsert(context.Background(), b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Upsert: %v, want an error with %q", err, tc.want)
			}
		})
	}
	if v := f.versions(t); len(v) != 0 {
		t.Errorf("rejected batches wrote %v", v)
	}
}

// conflicts counts the lake's "write conflict" log records.
type conflicts struct{ n atomic.Int64 }

func (c *conflicts) Enabled(context.Context, slog.Level) bool { return true }
func (c *conflicts) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "conflict") {
		c.n.Add(1)
	}
	return nil
}
func (c *conflicts) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *conflicts) WithGroup(string) slog.Handler      { return c }

// Concurrent writers: gofakes3 checks If-Match / If-None-Match and writes
// under one lock, as S3 does, so a lost race is a 412 and Upsert merges
// again. (moto_server checks the condition and writes in two steps, so two
// writers can both pass the check: it cannot judge this.)
func TestConcurrentWritersLoseNothing(t *testing.T) {
	testenv.GoFakeS3(t, bucket)
	const writers, rounds, perRound = 4, 6, 3
	var seen conflicts
	lakes := make([]*lake.Lake, writers) // one per process, as concurrent Lambda invocations
	for i := range lakes {
		lakes[i] = openFixture(t, lake.WithLogger(slog.New(&seen))).lake
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, writers*rounds)
	for w, l := range lakes {
		wg.Go(func() {
			<-start
			for r := range rounds {
				// Each writer adds its own dates to the same object, and all
				// write its own series into the same markets object.
				var rows []markets.Row
				for k := range perRound {
					rows = append(rows, obs(day(2017, 1+r, 1+w*perRound+k), fmt.Sprintf("1.%d%d%d1", w, r, k)))
				}
				s := series(markets.Currency, "CURRFX", "EURUSD", []string{"rate"}, rows...)
				s.Dataset.Description = fmt.Sprintf("writer %d", w) // every writer rewrites the markets object
				n, err := l.Upsert(context.Background(), layout(t, s))
				if err != nil {
					errs <- err
					return
				}
				total.Add(int64(n))
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := history(t, lakes[0], markets.Currency, "EURUSD", day(2017, 1, 1), day(2017, 12, 31))
	if want := writers * rounds * perRound; len(got) != want || int(total.Load()) != want {
		t.Errorf("%d rows stored, %d reported written, want %d: a write was lost", len(got), total.Load(), want)
	}
	for _, r := range got {
		d, _ := markets.ParseDate(r[3])
		w, rd, k := (d.Day-1)/perRound, int(d.Month)-1, (d.Day-1)%perRound
		if want := fmt.Sprintf("1.%d%d%d1", w, rd, k); r[4] != want {
			t.Errorf("%s: rate %s, want %s", r[3], r[4], want)
		}
	}
	if seen.n.Load() == 0 {
		t.Error("no write conflict happened: the test did not exercise the conditional writes")
	}
	t.Logf("%d write conflicts resolved by merging again", seen.n.Load())
}

func TestUnreadableObjectsAreErrorsAndKept(t *testing.T) {
	f := newFixture(t)
	f.upsert(t, eurusd())
	key := "currency/year=2017/CURRFX.EURUSD.parquet"
	f.putRaw(t, key, []byte("not parquet"))
	wrongSchema := parquetOf(t, []struct {
		Dataset string  `parquet:"dataset"`
		Rate    float64 `parquet:"rate"`
	}{{"CURRFX", 1.05}})
	f.putRaw(t, "currency/year=2016/CURRFX.EURUSD.parquet", wrongSchema)
	before := f.versions(t)

	for name, s := range map[string]markets.Series{"corrupt": eurusd(), "schema": eurusd()} {
		if name == "corrupt" {
			s.Rows = s.Rows[2:]
		} else {
			s.Rows = s.Rows[:2]
		}
		_, err := f.lake.Upsert(context.Background(), layout(t, s))
		if !errors.Is(err, lake.ErrUnreadable) {
			t.Errorf("%s: Upsert = %v, want ErrUnreadable", name, err)
		}
		want := map[string]string{"corrupt": "not a Parquet file", "schema": "schema differs from table currency"}[name]
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "s3://"+bucket+"/"+prefix+"/currency/year=") {
			t.Errorf("%s: Upsert = %v, want the object's URL and %q", name, err, want)
		}
	}
	if _, err := f.lake.Latest(context.Background(), markets.Currency); !errors.Is(err, lake.ErrUnreadable) {
		t.Errorf("Latest = %v, want ErrUnreadable", err)
	}
	if _, _, err := f.lake.Newest(context.Background(), markets.Currency, "CURRFX", "EURUSD"); !errors.Is(err, lake.ErrUnreadable) {
		t.Errorf("Newest = %v, want ErrUnreadable", err)
	}
	if after := f.versions(t); !maps.Equal(after, before) {
		t.Errorf("unreadable objects were overwritten: versions %v, before %v", after, before)
	}
}

func TestParseURL(t *testing.T) {
	cases := []struct {
		url, bucket, prefix, err string
	}{
		{"s3://my-bucket/lake", "my-bucket", "lake", ""},
		{"s3://my.bucket.1/a/b_c-d.e/", "my.bucket.1", "a/b_c-d.e", ""},
		{"https://my-bucket/lake", "", "", `the scheme is "https", not s3`},
		{"my-bucket/lake", "", "", `the scheme is "", not s3`},
		{"s3://my-bucket", "", "", "it has no prefix"},
		{"s3://my-bucket/", "", "", "it has no prefix"},
		{"s3:my-bucket/lake", "", "", "no // after s3:"},
		{"s3://My_Bucket/lake", "", "", "only lower-case letters"},
		{"s3://ab/lake", "", "", "3 to 63 characters"},
		{"s3://-bucket/lake", "", "", "begin and end with a letter or digit"},
		{"s3://192.168.1.1/lake", "", "", "IP address"},
		{"s3://key:secret@bucket/lake", "", "", "it has a user"},
		{"s3://bucket:9000/lake", "", "", "it has a port"},
		{"s3://bucket/lake?x=1", "", "", "it has a query"},
		{"s3://bucket/lake#x", "", "", "it has a fragment"},
		{"s3://bucket/a//b", "", "", "empty, . or .."},
		{"s3://bucket/a/../b", "", "", "empty, . or .."},
		{"s3://bucket/a b", "", "", "use letters, digits"},
		{"s3://bucket/%zz", "", "", "not a URL"},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.url), func(t *testing.T) {
			b, p, err := lake.ParseURL(tc.url)
			if tc.err == "" {
				if err != nil || b != tc.bucket || p != tc.prefix {
					t.Errorf("ParseURL = %q, %q, %v; want %q, %q", b, p, err, tc.bucket, tc.prefix)
				}
				return
			}
			if !errors.Is(err, lake.ErrInvalidURL) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "want s3://BUCKET/PREFIX") {
				t.Errorf("ParseURL error %v, want ErrInvalidURL with %q", err, tc.err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	testenv.GoFakeS3(t, bucket)
	ctx := context.Background()
	if _, err := lake.Open(ctx, "s3://"); !errors.Is(err, lake.ErrInvalidURL) {
		t.Errorf("Open(s3://) = %v, want ErrInvalidURL", err)
	}
	_, err := lake.Open(ctx, "s3://no-such-bucket/lake")
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Errorf("Open of a missing bucket = %v, want it named", err)
	}
}

func TestEscapeName(t *testing.T) {
	for in, want := range map[string]string{
		"WIKI": "WIKI", "RIFSPFF_N_D": "RIFSPFF_N_D", "BRK.B": "BRK%2EB", "a/b c": "a%2Fb%20c",
		"é": "%C3%A9", "x%y": "x%25y", "A-Z": "A-Z",
	} {
		if got := lake.EscapeName(in); got != want {
			t.Errorf("EscapeName(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := lake.SeriesKey(markets.InterestRates, 987, "US.T", "YIELD"), "interest_rates/year=0987/US%2ET.YIELD.parquet"; got != want {
		t.Errorf("SeriesKey = %q, want %q", got, want)
	}
}

func TestNamesAreEscapedInKeys(t *testing.T) {
	f := newFixture(t)
	s := series(markets.Equities, "NYSE", "BRK.B", []string{"close"}, obs(day(2018, 3, 1), "199.5"))
	f.upsert(t, s)
	if _, ok := f.versions(t)["equities/year=2018/NYSE.BRK%2EB.parquet"]; !ok {
		t.Errorf("objects %v, want equities/year=2018/NYSE.BRK%%2EB.parquet", f.versions(t))
	}
	if d, ok, err := f.lake.Newest(context.Background(), markets.Equities, "NYSE", "BRK.B"); err != nil || !ok || d != day(2018, 3, 1) {
		t.Errorf("Newest = %v %v %v, want 2018-03-01", d, ok, err)
	}
}
