package quandl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/acmecheckout/reports/internal/markets"
)

// PageSize is the rows the Tables API is asked for per page (its maximum).
const PageSize = 10000

// maxPages bounds the cursor pages of one fetch: 10 million rows is far more
// than a series holds, so more means the API keeps answering the same pages.
const maxPages = 1000

// fetchTable reads the rows of a table dated start to end and selected by
// the entry's filters, over every cursor page.
func (c *Client) fetchTable(ctx context.Context, e markets.Entry, start, end markets.Date) (markets.Series, error) {
	pub, table, _ := strings.Cut(e.Code, "/")
	q := url.Values{}
	q.Set(keyParam, c.apiKey)
	q.Set("date.gte", start.String())
	q.Set("date.lte", end.String())
	for col, v := range e.Filters {
		q.Set(col, v)
	}
	q.Set("qopts.per_page", fmt.Sprint(PageSize))
	base := c.base + "/datatables/" + url.PathEscape(pub) + "/" + url.PathEscape(table) + ".json?"

	t := &tableDecoder{filters: e.Filters}
	seen := map[string]bool{}
	for page := 1; ; page++ {
		body, err := c.api.Get(ctx, base+q.Encode(), e.Code)
		if err != nil {
			return markets.Series{}, fmt.Errorf("page %d: %w", page, err)
		}
		next, err := t.add(body)
		if err != nil {
			return markets.Series{}, fmt.Errorf("page %d: %w", page, err)
		}
		if next == "" {
			break
		}
		if seen[next] || page >= maxPages {
			return markets.Series{}, fmt.Errorf("%w: page %d: next_cursor_id %q repeats an earlier page", ErrMalformed, page, next)
		}
		seen[next] = true
		q.Set("qopts.cursor_id", next)
	}
	return t.series(e.Dataset), nil
}

// tableResponse is a datatable answer:
// {"datatable":{"data":[[...]],"columns":[{"name":"date","type":"Date"},...]},"meta":{"next_cursor_id":null}}.
type tableResponse struct {
	Datatable *struct {
		Data    [][]any       `json:"data"`
		Columns []tableColumn `json:"columns"`
	} `json:"datatable"`
	Meta struct {
		NextCursorID *string `json:"next_cursor_id"`
	} `json:"meta"`
}

// tableColumn is one column of a datatable: its name and type ("Date",
// "String", "double", "BigDecimal(34,12)", "Integer", ...).
type tableColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// tableDecoder gathers the pages of one table answer into a series.
type tableDecoder struct {
	filters map[string]string
	columns []tableColumn // of the first page; every page must have them
	date    int           // index of the date column
	values  []int         // indexes of the value columns
	names   []string      // their names, mapped by markets.ColumnName
	rows    []markets.Row
	seen    map[markets.Date]bool
}

// add decodes one page and returns its next_cursor_id ("" on the last page).
// The first page decides the columns: the date column is "date" (type
// Date); the value columns are the numeric ones, except the filtered
// columns; other columns (text, other dates) are not values. Errors match
// ErrMalformed.
func (t *tableDecoder) add(body []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var r tableResponse
	if err := dec.Decode(&r); err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if r.Datatable == nil {
		return "", fmt.Errorf("%w: no datatable", ErrMalformed)
	}
	if t.columns == nil {
		if err := t.setColumns(r.Datatable.Columns); err != nil {
			return "", err
		}
	} else if !slices.Equal(t.columns, r.Datatable.Columns) {
		return "", fmt.Errorf("%w: columns %v differ from the first page's %v", ErrMalformed, r.Datatable.Columns, t.columns)
	}
	for i, rec := range r.Datatable.Data {
		row, err := t.row(rec)
		if err != nil {
			return "", fmt.Errorf("%w: data row %d: %w", ErrMalformed, i, err)
		}
		if t.seen[row.Date] {
			return "", fmt.Errorf("%w: date %s appears twice: the filters %v do not select one series (add a filter)", ErrMalformed, row.Date, t.filters)
		}
		t.seen[row.Date] = true
		t.rows = append(t.rows, row)
	}
	if r.Meta.NextCursorID == nil {
		return "", nil
	}
	return *r.Meta.NextCursorID, nil
}

// setColumns finds the date and value columns.
func (t *tableDecoder) setColumns(cols []tableColumn) error {
	t.columns, t.date, t.seen = cols, -1, map[markets.Date]bool{}
	for i, c := range cols {
		name := markets.ColumnName(c.Name)
		_, filtered := t.filters[name]
		switch {
		case name == markets.ColDate:
			if !strings.EqualFold(c.Type, "date") {
				return fmt.Errorf("%w: column date has type %q, want Date", ErrMalformed, c.Type)
			}
			t.date = i
		case filtered || !numeric(c.Type):
		case name == "" || slices.Contains(t.names, name):
			return fmt.Errorf("%w: column %q: empty or duplicate name %q", ErrMalformed, c.Name, name)
		default:
			t.values = append(t.values, i)
			t.names = append(t.names, name)
		}
	}
	if t.date < 0 {
		return fmt.Errorf("%w: no date column among %v", ErrMalformed, cols)
	}
	if len(t.values) == 0 {
		return fmt.Errorf("%w: no numeric column other than the filters among %v", ErrMalformed, cols)
	}
	return nil
}

// row reads one record of the table's width.
func (t *tableDecoder) row(rec []any) (markets.Row, error) {
	if len(rec) != len(t.columns) {
		return markets.Row{}, fmt.Errorf("%d values, want %d", len(rec), len(t.columns))
	}
	s, ok := rec[t.date].(string)
	if !ok {
		return markets.Row{}, fmt.Errorf("date %v: want a YYYY-MM-DD string", rec[t.date])
	}
	d, err := markets.ParseDate(s)
	if err != nil {
		return markets.Row{}, err
	}
	row := markets.Row{Date: d, Values: make([]string, len(t.values))}
	for j, i := range t.values {
		switch v := rec[i].(type) {
		case nil:
		case json.Number:
			row.Values[j] = v.String()
		default:
			return markets.Row{}, fmt.Errorf("column %s: %v is not a number or null", t.names[j], v)
		}
	}
	return row, nil
}

// series returns the rows gathered, in ascending date order.
func (t *tableDecoder) series(ds markets.Dataset) markets.Series {
	slices.SortFunc(t.rows, func(a, b markets.Row) int { return a.Date.Time().Compare(b.Date.Time()) })
	return markets.Series{Dataset: ds, Columns: t.names, Rows: t.rows}
}

// numeric reports whether a datatable column type holds numbers:
// BigDecimal(p,s), decimal, double, float, integer, long, numeric.
func numeric(typ string) bool {
	base, _, _ := strings.Cut(strings.ToLower(typ), "(")
	switch strings.TrimSpace(base) {
	case "bigdecimal", "decimal", "double", "float", "integer", "int", "long", "numeric", "number":
		return true
	}
	return false
}
