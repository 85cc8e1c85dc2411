package lake_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/testenv"
)

func TestCheck(t *testing.T) {
	f := newFixture(t)
	f.upsert(t, eurusd())
	f.upsert(t, yields())
	good, _ := f.object(t, "currency/year=2017/CURRFX.EURUSD.parquet")
	ctx := context.Background()
	// A copy of the 2017 object filed under 2018 and under another series;
	// CopyObject keeps its sha256 metadata, so only the rows are wrong.
	for _, dst := range []string{"currency/year=2018/CURRFX.EURUSD.parquet", "currency/year=2017/CURRFX.GBPUSD.parquet"} {
		_, err := f.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + "/" + dst),
			CopySource: aws.String(bucket + "/" + prefix + "/currency/year=2017/CURRFX.EURUSD.parquet")})
		if err != nil {
			t.Fatal(err)
		}
	}
	f.putRaw(t, "currency/2017/CURRFX.EURUSD.parquet", good)
	f.putRaw(t, "currency/year=2017/CURRFX.EUR%2eUSD.parquet", good)
	f.putRaw(t, "bonds/year=2017/X.Y.parquet", good)
	f.putRaw(t, "economics/year=2017/FRED.GDP.parquet", good) // a currency file in economics
	f.putRaw(t, "equities/year=2017/WIKI.FB.parquet", []byte("PAR1 but not really PAR1"))
	f.putRaw(t, "notes.txt", []byte("hello"))

	var progress []int
	rep, err := f.lake.Check(ctx, func(done, total int) {
		if total != 13 {
			t.Errorf("progress total %d, want 13", total)
		}
		progress = append(progress, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) != 13 || progress[12] != 13 {
		t.Errorf("progress %v, want 1..13", progress)
	}
	want := map[string]string{ // key -> a problem it must have ("" none)
		"currency/year=2016/CURRFX.EURUSD.parquet":          "",
		"currency/year=2017/CURRFX.EURUSD.parquet":          "",
		"interest_rates/year=2016/USTREASURY.YIELD.parquet": "",
		"interest_rates/year=2017/USTREASURY.YIELD.parquet": "",
		"markets/data.parquet":                              "",
		"currency/year=2018/CURRFX.EURUSD.parquet":          "2 rows of another year than 2018 (e.g. 2017-01-02)",
		"currency/year=2017/CURRFX.GBPUSD.parquet":          "2 rows of another series than CURRFX/GBPUSD",
		"currency/2017/CURRFX.EURUSD.parquet":               "partition \"2017\" is not year=YYYY",
		"currency/year=2017/CURRFX.EUR%2eUSD.parquet":       "not percent-encoded as the layout requires",
		"bonds/year=2017/X.Y.parquet":                       `unknown job "bonds"`,
		"economics/year=2017/FRED.GDP.parquet":              "schema differs from table economics",
		"equities/year=2017/WIKI.FB.parquet":                "not a Parquet file",
		"notes.txt":                                         "key does not follow the layout",
	}
	if len(rep.Objects) != len(want) {
		t.Errorf("%d objects reported, want %d", len(rep.Objects), len(want))
	}
	for _, o := range rep.Objects {
		problem, ok := want[o.Key]
		switch {
		case !ok:
			t.Errorf("unexpected object %s", o.Key)
		case problem == "" && len(o.Problems) > 0:
			t.Errorf("%s: problems %v, want none", o.Key, o.Problems)
		case problem != "" && !slices.ContainsFunc(o.Problems, func(p string) bool { return strings.Contains(p, problem) }):
			t.Errorf("%s: problems %v, want one with %q", o.Key, o.Problems, problem)
		}
	}
	// Readable objects: EURUSD 2+2, YIELD 2+4, markets 2, the two copies 2+2.
	if rep.Bad() != 8 || rep.Rows() != 16 {
		t.Errorf("Bad %d Rows %d, want 8 and 16", rep.Bad(), rep.Rows())
	}
	bad := rep.Objects[slices.IndexFunc(rep.Objects, func(o lake.ObjectReport) bool { return o.Key == "currency/year=2018/CURRFX.EURUSD.parquet" })]
	if bad.Table != "currency" || bad.Year != 2018 || bad.Dataset != "CURRFX" || bad.Ticker != "EURUSD" || bad.Rows != 2 || bad.Bytes != int64(len(good)) {
		t.Errorf("report %+v", bad)
	}

	// The content's hash: missing (written by another tool) or wrong.
	f.putRaw(t, "currency/year=2017/CURRFX.JPYUSD.parquet", good)
	_, err = f.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + "/currency/year=2017/CURRFX.CHFUSD.parquet"),
		Body: bytes.NewReader(good), Metadata: map[string]string{lake.MetadataSHA256: sha256Hex([]byte("other"))}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = f.lake.Check(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, problem := range map[string]string{
		"currency/year=2017/CURRFX.JPYUSD.parquet": "no sha256 metadata",
		"currency/year=2017/CURRFX.CHFUSD.parquet": "sha256 metadata is not the content's hash",
	} {
		i := slices.IndexFunc(rep.Objects, func(o lake.ObjectReport) bool { return o.Key == key })
		if i < 0 || !slices.Contains(rep.Objects[i].Problems, problem) {
			t.Errorf("%s: want the problem %q in %+v", key, problem, rep.Objects)
		}
	}
}

func TestReportFormats(t *testing.T) {
	rep := lake.Report{URL: lakeURL, Objects: []lake.ObjectReport{
		{Key: "currency/year=2017/CURRFX.EURUSD.parquet", Table: "currency", Year: 2017, Dataset: "CURRFX", Ticker: "EURUSD", Rows: 250, Bytes: 9000},
		{Key: "notes.txt", Bytes: 5, Problems: []string{"key does not follow the layout: x", "y"}},
	}}
	var table, js, cs bytes.Buffer
	for w, format := range map[*bytes.Buffer]string{&table: lake.FormatTable, &js: lake.FormatJSON, &cs: lake.FormatCSV} {
		if err := rep.Write(w, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
	}
	wantTable := "" +
		"rows  bytes  key                                       problems\n" +
		" 250   9000  currency/year=2017/CURRFX.EURUSD.parquet  \n" +
		"   0      5  notes.txt                                 key does not follow the layout: x; y\n" +
		"s3://lake-bucket/markets-lake: 2 objects, 250 rows, 1 not following the layout\n"
	if got := table.String(); got != wantTable {
		t.Errorf("table\n%q\nwant\n%q", got, wantTable)
	}
	var back lake.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.URL != rep.URL || len(back.Objects) != 2 || back.Objects[1].Problems[1] != "y" {
		t.Errorf("JSON %s does not decode to the report (%v)", js.String(), err)
	}
	records, err := csv.NewReader(&cs).ReadAll()
	want := [][]string{
		{"key", "table", "year", "dataset", "ticker", "rows", "bytes", "problems"},
		{"currency/year=2017/CURRFX.EURUSD.parquet", "currency", "2017", "CURRFX", "EURUSD", "250", "9000", ""},
		{"notes.txt", "", "", "", "", "0", "5", "key does not follow the layout: x; y"},
	}
	if err != nil || !slices.EqualFunc(records, want, slices.Equal) {
		t.Errorf("CSV %v (%v), want %v", records, err, want)
	}
	if err := rep.Write(&table, "xml"); err == nil || !strings.Contains(err.Error(), "want table, json or csv") {
		t.Errorf("Write(xml) = %v, want an error naming the formats", err)
	}
}

func TestRunCheck(t *testing.T) {
	f := newFixture(t)
	f.upsert(t, eurusd())
	var out, errOut bytes.Buffer
	ctx := context.Background()
	if err := lake.RunCheck(ctx, lakeURL, lake.FormatCSV, &out, &errOut); err != nil {
		t.Fatalf("RunCheck of a good lake: %v", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 4 || !strings.Contains(errOut.String(), "lake check: 3/3 objects") {
		t.Errorf("stdout %q (want a header and 3 lines), stderr %q", out.String(), errOut.String())
	}
	f.putRaw(t, "notes.txt", []byte("x"))
	err := lake.RunCheck(ctx, lakeURL, lake.FormatTable, &out, &errOut)
	if !errors.Is(err, lake.ErrLayout) || !strings.Contains(err.Error(), "1 of 4 objects") {
		t.Errorf("RunCheck with a stray object = %v, want ErrLayout naming 1 of 4", err)
	}
	if err := lake.RunCheck(ctx, "s3://lake-bucket", lake.FormatTable, &out, &errOut); !errors.Is(err, lake.ErrInvalidURL) {
		t.Errorf("RunCheck of a bad URL = %v, want ErrInvalidURL", err)
	}
	if err := lake.RunCheck(ctx, lakeURL, "yaml", &out, &errOut); err == nil || !strings.Contains(err.Error(), `unknown format "yaml"`) {
		t.Errorf("RunCheck with format yaml = %v, want an unknown format error", err)
	}
}

// The lake through moto_server too: another S3 implementation, in its own
// process, path-style on 127.0.0.1. (Its conditional writes are not atomic,
// so the concurrency test uses gofakes3.)
func TestMotoRoundTrip(t *testing.T) {
	testenv.MotoS3(t, bucket)
	f := openFixture(t)
	if n := f.upsert(t, eurusd()); n != 4 {
		t.Errorf("first load wrote %d rows, want 4", n)
	}
	before := f.versions(t)
	if n := f.upsert(t, eurusd()); n != 0 {
		t.Errorf("re-run wrote %d rows, want 0", n)
	}
	if after := f.versions(t); len(after) != 3 || after["currency/year=2017/CURRFX.EURUSD.parquet"] != before["currency/year=2017/CURRFX.EURUSD.parquet"] {
		t.Errorf("versions %v after a re-run, before %v", after, before)
	}
	got := history(t, f.lake, markets.Currency, "EURUSD", day(2016, 1, 1), day(2017, 12, 31))
	if len(got) != 4 || got[3][4] != "1.0405" {
		t.Errorf("history %v", got)
	}
	rep, err := f.lake.Check(context.Background(), nil)
	if err != nil || rep.Bad() != 0 || len(rep.Objects) != 3 {
		t.Errorf("Check = %+v, %v; want 3 good objects", rep, err)
	}
}
