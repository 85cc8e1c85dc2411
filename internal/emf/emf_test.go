package emf_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/emf"
)

func TestWrite(t *testing.T) {
	var out bytes.Buffer
	w := emf.New(&out, emf.Namespace, [][]string{{"FunctionName", "Job"}, {"FunctionName"}},
		[]emf.Metric{{Name: "Rows", Unit: emf.Count}, {Name: "Duration", Unit: emf.Milliseconds}})
	at := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	if err := w.Write(at, map[string]string{"FunctionName": "f", "Job": "j"}, []float64{3, 1.5}); err != nil {
		t.Fatal(err)
	}
	want := `{"FunctionName":"f","Job":"j","Duration":1.5,"Rows":3,"_aws":{"CloudWatchMetrics":[{"Dimensions":[["FunctionName","Job"],["FunctionName"]],"Metrics":[{"Name":"Rows","Unit":"Count"},{"Name":"Duration","Unit":"Milliseconds"}],"Namespace":"CheckoutReports"}],"Timestamp":1796101200000}}`
	var got, wantV any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %s", out.String())
	}
	if err := json.Unmarshal([]byte(want), &wantV); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantV) || bytes.Count(out.Bytes(), []byte("\n")) != 1 {
		t.Errorf("line\n%s\nwant (as JSON)\n%s", out.String(), want)
	}
}

func TestWriteErrors(t *testing.T) {
	w := emf.New(failing{}, emf.Namespace, [][]string{{"FunctionName"}}, []emf.Metric{{Name: "A", Unit: emf.Count}})
	if err := w.Write(time.Now(), nil, []float64{1, 2}); err == nil {
		t.Error("two values for one metric: no error")
	}
	if err := w.Write(time.Now(), nil, []float64{1}); err == nil {
		t.Error("failing writer: no error")
	}
}

func TestNames(t *testing.T) {
	if got := emf.Names([]emf.Metric{{Name: "A"}, {Name: "B"}}); !reflect.DeepEqual(got, []string{"A", "B"}) {
		t.Errorf("Names = %v", got)
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("disk full") }
