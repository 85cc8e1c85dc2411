package quandl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/acmecheckout/reports/internal/markets"
)

// dataResponse is the data.json answer:
// {"dataset_data":{"column_names":["Date",...],"data":[["2017-12-07",1.1794,null],...],...}}.
type dataResponse struct {
	DatasetData *struct {
		ColumnNames []string `json:"column_names"`
		Data        [][]any  `json:"data"`
	} `json:"dataset_data"`
}

// errorResponse is an error answer: {"quandl_error":{"code":"QECx02","message":"..."}}.
type errorResponse struct {
	QuandlError *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"quandl_error"`
}

// Decode reads a data.json body into a Series for ds. The first column must
// be the date; the others are named by markets.ColumnName and hold numbers
// (kept as the API wrote them) or null (""). Errors match ErrMalformed.
func Decode(ds markets.Dataset, body []byte) (markets.Series, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var r dataResponse
	if err := dec.Decode(&r); err != nil {
		return markets.Series{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if r.DatasetData == nil {
		return markets.Series{}, fmt.Errorf("%w: no dataset_data", ErrMalformed)
	}
	names := r.DatasetData.ColumnNames
	if len(names) < 2 || !strings.EqualFold(names[0], "Date") {
		return markets.Series{}, fmt.Errorf("%w: column_names %q: want Date and at least one value column", ErrMalformed, names)
	}
	s := markets.Series{Dataset: ds, Columns: make([]string, 0, len(names)-1), Rows: make([]markets.Row, 0, len(r.DatasetData.Data))}
	seenCol := map[string]bool{}
	for _, n := range names[1:] {
		col := markets.ColumnName(n)
		if col == "" || seenCol[col] {
			return markets.Series{}, fmt.Errorf("%w: column %q: empty or duplicate name %q", ErrMalformed, n, col)
		}
		seenCol[col] = true
		s.Columns = append(s.Columns, col)
	}
	seenDate := map[markets.Date]bool{}
	for i, rec := range r.DatasetData.Data {
		row, err := decodeRow(rec, len(names))
		if err != nil {
			return markets.Series{}, fmt.Errorf("%w: data row %d: %w", ErrMalformed, i, err)
		}
		if seenDate[row.Date] {
			return markets.Series{}, fmt.Errorf("%w: data row %d: duplicate date %s", ErrMalformed, i, row.Date)
		}
		seenDate[row.Date] = true
		s.Rows = append(s.Rows, row)
	}
	return s, nil
}

// decodeRow reads one [date, value, ...] record of width columns.
func decodeRow(rec []any, width int) (markets.Row, error) {
	if len(rec) != width {
		return markets.Row{}, fmt.Errorf("%d values, want %d", len(rec), width)
	}
	ds, ok := rec[0].(string)
	if !ok {
		return markets.Row{}, fmt.Errorf("date %v: want a YYYY-MM-DD string", rec[0])
	}
	d, err := markets.ParseDate(ds)
	if err != nil {
		return markets.Row{}, err
	}
	row := markets.Row{Date: d, Values: make([]string, width-1)}
	for j, v := range rec[1:] {
		switch v := v.(type) {
		case nil:
		case json.Number:
			row.Values[j] = v.String()
		default:
			return markets.Row{}, fmt.Errorf("column %d: %v is not a number or null", j+1, v)
		}
	}
	return row, nil
}

// decodeError reads a quandl_error body.
func decodeError(body []byte) (code, message string, ok bool) {
	var e errorResponse
	if json.Unmarshal(body, &e) != nil || e.QuandlError == nil {
		return "", "", false
	}
	return e.QuandlError.Code, e.QuandlError.Message, true
}
