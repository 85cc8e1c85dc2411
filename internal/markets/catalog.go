package markets

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Source names the provider API a catalog entry is loaded from (SPEC §6).
type Source string

// The sources.
const (
	// SourceQuandl is the Quandl / Nasdaq Data Link time-series API of SPEC §5.
	SourceQuandl Source = "quandl"
	// SourceQuandlTable is the Nasdaq Data Link Tables API (datatables).
	SourceQuandlTable Source = "quandl-table"
	// SourceFRED is the St. Louis Fed's FRED API.
	SourceFRED Source = "fred"
)

// Sources returns every source, in the order of SPEC §6.
func Sources() []Source { return []Source{SourceQuandl, SourceQuandlTable, SourceFRED} }

// Entry is one series of a catalog (SPEC §6): which dataset of which job it
// loads (the embedded Dataset, with its column mapping) and where from.
type Entry struct {
	Dataset
	// Source is the provider API.
	Source Source
	// Code is DATABASE/CODE (quandl), PUBLISHER/TABLE (quandl-table) or the
	// series id (fred).
	Code string
	// Filters are the Tables API column filters, by column (quandl-table only).
	Filters map[string]string
	// StaleAfterDays: the series is stale when its newest stored observation
	// is more than this many days before the end of a run's window. Parsed
	// entries always have it (the job's DefaultStaleAfterDays unless given).
	StaleAfterDays int
}

// Catalog is the series the jobs load, in the order the file lists them.
type Catalog struct {
	Series []Entry
}

// Job returns the entries of job j, in catalog order.
func (c Catalog) Job(j Job) []Entry {
	var out []Entry
	for _, e := range c.Series {
		if e.Job == j {
			out = append(out, e)
		}
	}
	return out
}

// Count returns how many entries come from source s.
func (c Catalog) Count(s Source) int {
	n := 0
	for _, e := range c.Series {
		if e.Source == s {
			n++
		}
	}
	return n
}

//go:embed default_catalog.json
var defaultCatalog []byte

// DefaultCatalog returns the catalog the binary embeds: exactly the series of
// SPEC §5, all from the quandl source.
func DefaultCatalog() (Catalog, error) {
	c, err := ParseCatalog(defaultCatalog)
	if err != nil {
		return Catalog{}, fmt.Errorf("embedded default catalog: %w", err)
	}
	return c, nil
}

// CatalogError lists every problem of a catalog that is not valid, each
// naming the entry (its index, source and code) and the field.
type CatalogError struct {
	Problems []string
}

// Error returns "invalid catalog: N problems: ..." with one problem a line.
func (e *CatalogError) Error() string {
	what := "problem"
	if len(e.Problems) != 1 {
		what += "s"
	}
	return fmt.Sprintf("invalid catalog: %d %s:\n  %s", len(e.Problems), what, strings.Join(e.Problems, "\n  "))
}

// entryFields are the JSON fields of an entry, in the order of SPEC §6.
var entryFields = []string{"job", "source", "code", "dataset", "ticker", "description", "filters", "columns", "constants", "staleAfterDays"}

// entryJSON is an entry as the file writes it.
type entryJSON struct {
	Job            string            `json:"job"`
	Source         string            `json:"source"`
	Code           string            `json:"code"`
	Dataset        string            `json:"dataset"`
	Ticker         string            `json:"ticker"`
	Description    string            `json:"description"`
	Filters        map[string]string `json:"filters"`
	Columns        map[string]string `json:"columns"`
	Constants      map[string]string `json:"constants"`
	StaleAfterDays *int              `json:"staleAfterDays"`
}

// Limits of a catalog's values.
const (
	maxNameLength      = 100
	maxStaleAfterDays  = 36500
	maxDescriptionRune = 500
)

// codePart is one part of a Quandl code, or a FRED series id.
var codePart = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ParseCatalog decodes and validates a catalog file {"series": [ENTRY, ...]}
// (SPEC §6) and fills in the defaults (dataset and ticker of a quandl entry,
// description, staleAfterDays). It checks everything before returning: a
// catalog that is not valid is a *CatalogError listing every problem, each
// naming its entry and field. Field names are exact; a field given twice, an
// unknown field or a value of the wrong type is a problem.
func ParseCatalog(b []byte) (Catalog, error) {
	var file struct {
		Series []json.RawMessage `json:"series"`
	}
	if err := checkObject(b, []string{"series"}); err != nil {
		return Catalog{}, &CatalogError{Problems: []string{err.Error()}}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&file); err != nil {
		return Catalog{}, &CatalogError{Problems: []string{"series: " + jsonProblem(err)}}
	}
	if len(file.Series) == 0 {
		return Catalog{}, &CatalogError{Problems: []string{`series: empty; a catalog lists at least one series`}}
	}
	var c Catalog
	var problems []string
	owner := map[string]string{} // dataset/ticker -> entry label
	for i, raw := range file.Series {
		e, label, errs := parseEntry(i, raw)
		for _, err := range errs {
			problems = append(problems, label+": "+err)
		}
		if len(errs) > 0 {
			continue
		}
		key := e.Database + "/" + e.Ticker
		if first, dup := owner[key]; dup {
			problems = append(problems, fmt.Sprintf("%s: dataset, ticker: %s is also loaded by %s; each series needs its own dataset and ticker", label, key, first))
			continue
		}
		owner[key] = label
		c.Series = append(c.Series, e)
	}
	if len(problems) > 0 {
		return Catalog{}, &CatalogError{Problems: problems}
	}
	return c, nil
}

// parseEntry decodes and checks entry i; it returns the entry's label for
// messages and every problem found, each starting with the field's name.
func parseEntry(i int, raw json.RawMessage) (Entry, string, []string) {
	label := fmt.Sprintf("series[%d]", i)
	if err := checkObject(raw, entryFields); err != nil {
		return Entry{}, label, []string{err.Error()}
	}
	var j entryJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return Entry{}, label, []string{jsonProblem(err)}
	}
	if j.Source != "" || j.Code != "" {
		label += fmt.Sprintf(" (%s %s)", j.Source, j.Code)
	}
	e := Entry{
		Dataset: Dataset{Database: j.Dataset, Ticker: j.Ticker, Description: j.Description, Columns: j.Columns, Constants: j.Constants},
		Source:  Source(j.Source),
		Code:    j.Code,
		Filters: j.Filters,
	}
	var problems []string
	add := func(field, format string, args ...any) {
		problems = append(problems, field+": "+fmt.Sprintf(format, args...))
	}

	job, err := ParseJob(j.Job)
	switch {
	case j.Job == "":
		add("job", "required: one of %s", jobNames())
	case err != nil:
		add("job", "%v", err)
	}
	e.Job = job

	switch e.Source {
	case "":
		add("source", "required: one of %s", sourceNames())
	case SourceQuandl, SourceQuandlTable, SourceFRED:
	default:
		add("source", "unknown source %q: want one of %s", j.Source, sourceNames())
	}
	if msg := checkCode(e.Source, e.Code); msg != "" {
		add("code", "%s", msg)
	}
	if e.Source == SourceQuandl && codePart.MatchString(strings.ReplaceAll(e.Code, "/", "")) {
		db, code, _ := strings.Cut(e.Code, "/")
		if e.Database == "" {
			e.Database = db
		}
		if e.Ticker == "" {
			e.Ticker = code
		}
	}
	for _, f := range []struct{ name, value string }{{"dataset", e.Database}, {"ticker", e.Ticker}} {
		switch {
		case f.value == "" && e.Source != SourceQuandl:
			add(f.name, "required for source %s (only quandl entries default it from the code)", e.Source)
		case f.value != "" && !printable(f.value, maxNameLength):
			add(f.name, "%q: want 1 to %d printable characters", f.value, maxNameLength)
		}
	}
	if e.Description == "" {
		e.Description = e.Code
	} else if !printable(e.Description, maxDescriptionRune) {
		add("description", "want at most %d printable characters", maxDescriptionRune)
	}

	if msg := checkFilters(e.Source, e.Filters); msg != "" {
		add("filters", "%s", msg)
	}
	if t, ok := e.Job.Table(); ok {
		mapping := checkMapping(e.Dataset, t)
		problems = append(problems, mapping...)
		if _, err := deriveText(e.Dataset); err != nil && len(mapping) == 0 && e.Ticker != "" {
			add("constants", "%v", err)
		}
	}

	e.StaleAfterDays = e.Job.DefaultStaleAfterDays()
	if j.StaleAfterDays != nil {
		if n := *j.StaleAfterDays; n < 1 || n > maxStaleAfterDays {
			add("staleAfterDays", "%d: want a whole number of days from 1 to %d (omit it for the job's default, %d)", n, maxStaleAfterDays, e.StaleAfterDays)
		} else {
			e.StaleAfterDays = n
		}
	}
	return e, label, problems
}

// checkCode returns what is wrong with code for source, or "".
func checkCode(s Source, code string) string {
	if code == "" {
		return "required"
	}
	switch s {
	case SourceQuandl, SourceQuandlTable:
		want := "DATABASE/CODE, e.g. FRED/GDP"
		if s == SourceQuandlTable {
			want = "PUBLISHER/TABLE, e.g. ZILLOW/DATA"
		}
		a, b, ok := strings.Cut(code, "/")
		if !ok || !codePart.MatchString(a) || !codePart.MatchString(b) {
			return fmt.Sprintf("%q: want %s (letters, digits, _ . -)", code, want)
		}
	case SourceFRED:
		if !codePart.MatchString(code) {
			return fmt.Sprintf("%q: want a FRED series id, e.g. DEXUSEU (letters, digits, _ . -)", code)
		}
	}
	return ""
}

// checkFilters returns what is wrong with a source's filters, or "".
func checkFilters(s Source, filters map[string]string) string {
	if len(filters) == 0 {
		return ""
	}
	if s != SourceQuandlTable {
		return fmt.Sprintf("only %s entries take filters", SourceQuandlTable)
	}
	for _, col := range slices.Sorted(maps.Keys(filters)) {
		switch {
		case col == "api_key" || strings.HasPrefix(col, "qopts"):
			return fmt.Sprintf("%q is a request option, not a column", col)
		case col == "" || ColumnName(col) != col:
			return fmt.Sprintf("%q: want a column name as the Tables API writes it (lower case, e.g. region_id)", col)
		case col == ColDate:
			return `"date": the run's window sets the dates; filter other columns`
		case filters[col] == "" || !printable(filters[col], maxNameLength):
			return fmt.Sprintf("%s: want a value of 1 to %d printable characters", col, maxNameLength)
		}
	}
	return ""
}

// checkMapping returns what is wrong with the columns and constants of ds
// for its table t, each problem starting with the field's name.
func checkMapping(ds Dataset, t Table) []string {
	var problems []string
	targets := map[string]string{}
	for _, src := range slices.Sorted(maps.Keys(ds.Columns)) {
		dst := ds.Columns[src]
		switch {
		case src == "" || ColumnName(src) != src:
			problems = append(problems, fmt.Sprintf("columns: %q: want a source column as the §5 mapping writes it (lower case, _ for spaces, e.g. high_est)", src))
		case src == ColDate:
			problems = append(problems, `columns: "date" is the date column, not a value`)
		case t.Long && (dst == "" || !printable(dst, maxNameLength)):
			problems = append(problems, fmt.Sprintf("columns: %s: %q: want the key to store it under (1 to %d printable characters)", src, dst, maxNameLength))
		case !t.Long && !t.isValue(dst):
			problems = append(problems, fmt.Sprintf("columns: %s: %q is not a value column of %s (it has %s)", src, dst, t.Name, t.describe(t.isValueColumn)))
		case targets[dst] != "":
			problems = append(problems, fmt.Sprintf("columns: %s and %s both map to %q", targets[dst], src, dst))
		default:
			targets[dst] = src
		}
	}
	for _, col := range slices.Sorted(maps.Keys(ds.Constants)) {
		v := ds.Constants[col]
		switch {
		case !t.isConstant(col):
			settable := t.describe(t.isConstantColumn)
			if settable == "" {
				settable = "none"
			}
			problems = append(problems, fmt.Sprintf("constants: %q is not a text column of %s that a constant may set (it has %s)", col, t.Name, settable))
		case v == "" || !printable(v, maxNameLength):
			problems = append(problems, fmt.Sprintf("constants: %s: want a value of 1 to %d printable characters", col, maxNameLength))
		}
	}
	return problems
}

// isValueColumn reports whether c holds a source's values in a wide table.
func (t Table) isValueColumn(c Column) bool { return c.Kind == Decimal }

// isValue reports whether the column called name holds values.
func (t Table) isValue(name string) bool {
	i := t.Index(name)
	return i >= 0 && t.isValueColumn(t.Columns[i])
}

// isConstantColumn reports whether a constant may set c: a text column that
// is not part of the key.
func (t Table) isConstantColumn(c Column) bool {
	return c.Kind == Text && !t.IsKey(c.Name) && (!t.Long || c.Name != ColKey)
}

// isConstant reports whether a constant may set the column called name.
func (t Table) isConstant(name string) bool {
	i := t.Index(name)
	return i >= 0 && t.isConstantColumn(t.Columns[i])
}

// checkObject rejects JSON that is not one object, or whose keys are not
// exactly among fields or appear twice (encoding/json alone would match
// names case-insensitively and let a repeated key override the first).
func checkObject(b []byte, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return errors.New(jsonProblem(err))
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("want a JSON object {%q: ...}", fields[0])
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New(jsonProblem(err))
		}
		name, _ := tok.(string)
		if !slices.Contains(fields, name) {
			for _, f := range fields {
				if strings.EqualFold(f, name) {
					return fmt.Errorf("%s: unknown field (names are case-sensitive: did you mean %q?)", name, f)
				}
			}
			return fmt.Errorf("%s: unknown field (want %s)", name, strings.Join(fields, ", "))
		}
		if seen[name] {
			return fmt.Errorf("%s: given twice", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("%s: %s", name, jsonProblem(err))
		}
	}
	if _, err := dec.Token(); err != nil {
		return errors.New(jsonProblem(err))
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// jsonProblem describes a decoding error by field, without Go type names.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "value"
		}
		want := "an object of strings"
		switch te.Type.Kind() {
		case reflect.String:
			want = "a string"
		case reflect.Int, reflect.Pointer:
			want = "a whole number"
		case reflect.Slice:
			want = "a list"
		}
		return fmt.Sprintf("%s: %s where %s belongs", field, te.Value, want)
	case errors.As(err, &se):
		return fmt.Sprintf("not valid JSON at byte %d: %v", se.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "not valid JSON: it ends too early"
	}
	return "not valid JSON: " + err.Error()
}

// printable reports whether s is 1 to max runes of printable characters.
func printable(s string, max int) bool {
	if s == "" || len([]rune(s)) > max {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

func jobNames() string {
	var out []string
	for _, j := range Jobs() {
		out = append(out, string(j))
	}
	return strings.Join(out, ", ")
}

func sourceNames() string {
	var out []string
	for _, s := range Sources() {
		out = append(out, string(s))
	}
	return strings.Join(out, ", ")
}
