package lake

import (
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/acmecheckout/reports/internal/markets"
)

// HiveColumn is one column of a lake table as the Glue catalog declares it
// and Athena reads it.
type HiveColumn struct {
	Name string
	// Type is the Hive type: string, date or decimal(38,18).
	Type string
}

// hiveType is the Hive type of each column kind.
func hiveType(k markets.Kind) string {
	switch k {
	case markets.Day:
		return "date"
	case markets.Decimal:
		return fmt.Sprintf("decimal(%d,%d)", decimalPrecision, decimalScale)
	}
	return "string"
}

// HiveColumns returns the columns of the table's Parquet files with their
// Hive types, in the table's order (the partition column year excluded):
// what the stack's Glue table must declare (internal/stack tests it).
func HiveColumns(t markets.Table) []HiveColumn {
	out := make([]HiveColumn, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = HiveColumn{Name: c.Name, Type: hiveType(c.Kind)}
	}
	return out
}

// leafNode is the Parquet node of a column: text as STRING (dictionary
// encoded), dates as DATE, numbers as DECIMAL(38,18) in 16 bytes; key
// columns are required, the others optional.
func leafNode(c markets.Column, key bool) parquet.Node {
	var n parquet.Node
	switch c.Kind {
	case markets.Day:
		n = parquet.Date()
	case markets.Decimal:
		n = parquet.Decimal(decimalScale, decimalPrecision, parquet.FixedLenByteArrayType(decimalBytes))
	default:
		n = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
	}
	if key {
		return parquet.Required(n)
	}
	return parquet.Optional(n)
}

// codec is how one table's rows become a Parquet file and back.
type codec struct {
	table    markets.Table
	schema   *parquet.Schema
	leaf     []int    // table column -> leaf column index in the file
	want     []string // table column -> its expected leaf signature
	optional []bool   // table column -> nullable (not a key column)
}

// newCodec returns the codec of t.
func newCodec(t markets.Table) *codec {
	g := parquet.Group{}
	for _, c := range t.Columns {
		g[c.Name] = leafNode(c, t.IsKey(c.Name))
	}
	c := &codec{table: t, schema: parquet.NewSchema(t.Name, g)}
	for _, col := range t.Columns {
		lc, ok := c.schema.Lookup(col.Name)
		if !ok {
			panic("lake: column " + col.Name + " missing from its own schema")
		}
		c.leaf = append(c.leaf, lc.ColumnIndex)
		c.want = append(c.want, signature(lc.Node))
		c.optional = append(c.optional, !t.IsKey(col.Name))
	}
	return c
}

// codecs holds the codec of every table, built once.
var codecs = func() map[string]*codec {
	m := map[string]*codec{}
	for _, t := range markets.Tables() {
		m[t.Name] = newCodec(t)
	}
	return m
}()

// codecOf returns the codec of a table of markets.Tables, checking that t is
// that table exactly.
func codecOf(t markets.Table) (*codec, error) {
	c, ok := codecs[t.Name]
	if !ok || !sameTable(c.table, t) {
		return nil, fmt.Errorf("table %q is not one of the markets tables", t.Name)
	}
	return c, nil
}

// sameTable reports whether a and b have the same name, columns and key.
func sameTable(a, b markets.Table) bool {
	if a.Name != b.Name || len(a.Columns) != len(b.Columns) || strings.Join(a.Key, ",") != strings.Join(b.Key, ",") {
		return false
	}
	for i := range a.Columns {
		if a.Columns[i] != b.Columns[i] {
			return false
		}
	}
	return true
}

// signature describes a leaf column's repetition, physical and logical type,
// e.g. "optional FIXED_LEN_BYTE_ARRAY(16) DECIMAL(38,18)".
func signature(n parquet.Node) string {
	rep := "required"
	switch {
	case n.Optional():
		rep = "optional"
	case n.Repeated():
		rep = "repeated"
	}
	if !n.Leaf() {
		return rep + " group"
	}
	typ := n.Type()
	s := rep + " " + typ.Kind().String()
	if typ.Kind() == parquet.FixedLenByteArray {
		s += fmt.Sprintf("(%d)", typ.Length())
	}
	if lt := typ.LogicalType(); lt != nil {
		s += " " + lt.String()
	}
	return s
}

// checkSchema compares a file's schema with the codec's, naming every
// difference.
func (c *codec) checkSchema(s *parquet.Schema) error {
	var problems []string
	seen := map[string]bool{}
	for i, col := range c.table.Columns {
		seen[col.Name] = true
		lc, ok := s.Lookup(col.Name)
		if !ok {
			problems = append(problems, fmt.Sprintf("no column %s", col.Name))
			continue
		}
		if got := signature(lc.Node); got != c.want[i] {
			problems = append(problems, fmt.Sprintf("column %s is %s, want %s", col.Name, got, c.want[i]))
		}
	}
	for _, f := range s.Fields() {
		if !seen[f.Name()] {
			problems = append(problems, fmt.Sprintf("unexpected column %s", f.Name()))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("schema differs from table %s: %s", c.table.Name, strings.Join(problems, "; "))
	}
	return nil
}
