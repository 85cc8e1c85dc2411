package lake

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/acmecheckout/reports/internal/markets"
)

// row is one table row as stored: a Parquet value per table column, in the
// table's order (parquet.Value{} is NULL). A text is its UTF-8 bytes, a date
// its days since 1970-01-01 (INT32), a decimal its 16-byte DECIMAL(38,18).
type row []parquet.Value

// ErrUnreadable is matched (errors.Is) by the error for an object that is
// not a Parquet file of its table: corrupt, or of another schema.
var ErrUnreadable = errors.New("unreadable lake object")

// cellOf converts a table value of the given kind into its stored form. A
// date must be YYYY-MM-DD; a number a plain decimal that DECIMAL(38,18)
// holds exactly (never rounded).
func cellOf(k markets.Kind, v markets.Value) (parquet.Value, error) {
	if !v.Valid {
		return parquet.Value{}, nil
	}
	switch k {
	case markets.Day:
		d, err := markets.ParseDate(v.Text)
		if err != nil {
			return parquet.Value{}, err
		}
		if err := d.Check(); err != nil {
			return parquet.Value{}, err
		}
		return parquet.Int32Value(int32(d.Time().Unix() / 86400)), nil //nolint:gosec // a checked date (years 1-9999) is within ±3,000,000 days of 1970
	case markets.Decimal:
		b, err := encodeDecimal(v.Text)
		if err != nil {
			return parquet.Value{}, err
		}
		return parquet.FixedLenByteArrayValue(b), nil
	}
	return parquet.ByteArrayValue([]byte(v.Text)), nil
}

// cellsOf converts one row's values of the given kinds into cells,
// allocating the bytes of all its texts and decimals at once.
func cellsOf(kinds []markets.Kind, values []markets.Value, out []parquet.Value) error {
	size := 0
	for i, v := range values {
		switch {
		case !v.Valid:
		case kinds[i] == markets.Decimal:
			size += decimalBytes
		case kinds[i] == markets.Text:
			size += len(v.Text)
		}
	}
	buf := make([]byte, size)
	for i, v := range values {
		var err error
		switch {
		case !v.Valid:
			out[i] = parquet.Value{}
		case kinds[i] == markets.Decimal:
			b := buf[:decimalBytes:decimalBytes]
			buf = buf[decimalBytes:]
			err = encodeDecimalTo(b, v.Text)
			out[i] = parquet.FixedLenByteArrayValue(b)
		case kinds[i] == markets.Text:
			n := copy(buf, v.Text)
			out[i] = parquet.ByteArrayValue(buf[:n:n])
			buf = buf[n:]
		default:
			out[i], err = cellOf(kinds[i], v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// valueOf converts a stored cell back to a table value: a date as
// YYYY-MM-DD, a number as its shortest exact decimal text.
func valueOf(k markets.Kind, c parquet.Value) markets.Value {
	if c.IsNull() {
		return markets.Value{}
	}
	switch k {
	case markets.Day:
		return markets.TextValue(dateOf(c).String())
	case markets.Decimal:
		return markets.TextValue(decodeDecimal(c.ByteArray()))
	}
	return markets.TextValue(string(c.ByteArray()))
}

// dateOf returns the date of a DATE cell.
func dateOf(c parquet.Value) markets.Date {
	return markets.DateOf(time.Unix(int64(c.Int32())*86400, 0).UTC())
}

// compareCells orders two cells of one column: NULL first, texts by bytes,
// dates by day, decimals by value.
func compareCells(a, b parquet.Value) int {
	switch {
	case a.IsNull() || b.IsNull():
		return cmp.Compare(boolInt(!a.IsNull()), boolInt(!b.IsNull()))
	case a.Kind() == parquet.Int32:
		return cmp.Compare(a.Int32(), b.Int32())
	case a.Kind() == parquet.FixedLenByteArray:
		// Two's complement, big-endian: flip the sign bit to compare bytes.
		x, y := bytes.Clone(a.ByteArray()), bytes.Clone(b.ByteArray())
		x[0] ^= 0x80
		y[0] ^= 0x80
		return bytes.Compare(x, y)
	}
	return bytes.Compare(a.ByteArray(), b.ByteArray())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// keyIndexes returns the positions of the table's key columns, in key order.
func keyIndexes(t markets.Table) []int {
	out := make([]int, len(t.Key))
	for i, k := range t.Key {
		out[i] = t.Index(k)
	}
	return out
}

// compareKeys orders rows by the given key columns.
func compareKeys(keys []int, a, b row) int {
	for _, k := range keys {
		if c := compareCells(a[k], b[k]); c != 0 {
			return c
		}
	}
	return 0
}

// keyString returns a row's key as a map key.
func keyString(keys []int, r row) string {
	var b []byte
	for _, k := range keys {
		v := r[k]
		if v.Kind() == parquet.Int32 {
			b = binary.BigEndian.AppendUint32(b, uint32(v.Int32())) //nolint:gosec // the bits of a date, not a quantity
		} else {
			b = append(b, v.ByteArray()...)
		}
		b = append(b, 0)
	}
	return string(b)
}

// encode writes rows as one Parquet file (one row group, Snappy pages).
func (c *codec) encode(rows []row) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, c.schema, parquet.Compression(&parquet.Snappy))
	const chunk = 512
	width := len(c.table.Columns)
	values := make([]parquet.Value, chunk*width)
	batch := make([]parquet.Row, 0, chunk)
	flush := func() error {
		if _, err := w.WriteRows(batch); err != nil {
			return fmt.Errorf("encode Parquet: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	for _, r := range rows {
		out := parquet.Row(values[len(batch)*width : (len(batch)+1)*width])
		for i, v := range r {
			leaf, def := c.leaf[i], 0
			if !v.IsNull() && c.optional[i] {
				def = 1
			}
			out[leaf] = v.Level(0, def, leaf)
		}
		batch = append(batch, out)
		if len(batch) == chunk {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode Parquet: %w", err)
	}
	return buf.Bytes(), nil
}

// decode reads a Parquet file of the codec's table: its schema must be the
// table's exactly. Its errors match ErrUnreadable.
func (c *codec) decode(body []byte) (rows []row, err error) {
	defer func() {
		if r := recover(); r != nil { // parquet-go may panic on corrupt input
			rows, err = nil, fmt.Errorf("%w: corrupt Parquet: %v", ErrUnreadable, r) //nolint:errorlint // r is a recovered panic value, not an error chain
		}
	}()
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, fmt.Errorf("%w: not a Parquet file: %w", ErrUnreadable, err)
	}
	if err := c.checkSchema(f.Schema()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	column := make([]int, len(f.Schema().Columns())) // leaf index -> table column
	for i, col := range c.table.Columns {
		lc, _ := f.Schema().Lookup(col.Name)
		column[lc.ColumnIndex] = i
	}
	r := parquet.NewReader(f)
	defer r.Close()
	rows = make([]row, 0, f.NumRows())
	buf := make([]parquet.Row, 256)
	for {
		n, err := r.ReadRows(buf)
		for _, pr := range buf[:n] {
			rows = append(rows, c.copyRow(pr, column))
		}
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reading rows: %w", ErrUnreadable, err)
		}
	}
}

// copyRow returns a file row as a table row, copying the bytes of its texts
// and decimals (the reader reuses its buffers) into one allocation.
func (c *codec) copyRow(pr parquet.Row, column []int) row {
	size := 0
	for _, v := range pr {
		if !v.IsNull() && (v.Kind() == parquet.ByteArray || v.Kind() == parquet.FixedLenByteArray) {
			size += len(v.ByteArray())
		}
	}
	buf := make([]byte, size)
	out := make(row, len(c.table.Columns))
	for _, v := range pr {
		switch {
		case v.IsNull():
		case v.Kind() == parquet.ByteArray:
			n := copy(buf, v.ByteArray())
			out[column[v.Column()]] = parquet.ByteArrayValue(buf[:n:n])
			buf = buf[n:]
		case v.Kind() == parquet.FixedLenByteArray:
			n := copy(buf, v.ByteArray())
			out[column[v.Column()]] = parquet.FixedLenByteArrayValue(buf[:n:n])
			buf = buf[n:]
		default:
			out[column[v.Column()]] = v
		}
	}
	return out
}
