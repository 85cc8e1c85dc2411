package etl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// ErrInvalidInput is matched (errors.Is) by every error Plan returns.
var ErrInvalidInput = errors.New("invalid input")

// Input is what a run is asked to do: the Lambda function's event,
// {"jobs": ["currency"], "startDate": "2017-12-01", "endDate": "2017-12-07"}.
// Every field is optional.
type Input struct {
	// Jobs to run; empty means all, in their canonical order.
	Jobs []string `json:"jobs,omitempty"`
	// StartDate and EndDate bound the window, YYYY-MM-DD, both inclusive.
	// EndDate defaults to today (UTC). Without StartDate each series loads
	// incrementally (SPEC §6): from its newest stored date minus 7 days, or
	// the job's default window (7 days, real estate 90) ending at EndDate
	// when it was never loaded.
	StartDate string `json:"startDate,omitempty"`
	EndDate   string `json:"endDate,omitempty"`
}

// inputShape is the Input's JSON, quoted in errors about its shape.
const inputShape = `{"jobs": [...], "startDate": "YYYY-MM-DD", "endDate": "YYYY-MM-DD"}`

// DecodeInput decodes a Lambda event into an Input, exactly, so that a
// mistake is an error matching ErrInvalidInput rather than a run of the
// defaults: a field other than jobs, startDate and endDate (names are
// case-sensitive: "JOBS" is not "jobs"), a field given twice, a null or
// empty value (an empty jobs list would otherwise run every job), a value of
// the wrong type, or anything after the object. An empty event, {} and null
// mean the defaults.
func DecodeInput(event []byte) (Input, error) {
	fields, err := decodeObject(event)
	if err != nil {
		return Input{}, fmt.Errorf("%w: want %s: %w", ErrInvalidInput, inputShape, err)
	}
	var in Input
	for _, f := range []struct {
		name, omit string
		dst        any
	}{
		{"jobs", "omit it to run every job", &in.Jobs},
		{"startDate", "omit it for the default window", &in.StartDate},
		{"endDate", "omit it for today", &in.EndDate},
	} {
		raw, ok := fields[f.name]
		if !ok {
			continue
		}
		if string(raw) == "null" {
			return Input{}, fmt.Errorf("%w: %s: null; %s", ErrInvalidInput, f.name, f.omit)
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return Input{}, fmt.Errorf("%w: %s: %w", ErrInvalidInput, f.name, err)
		}
		if reflect.ValueOf(f.dst).Elem().Len() == 0 { // [] or ""
			return Input{}, fmt.Errorf("%w: %s: empty; %s", ErrInvalidInput, f.name, f.omit)
		}
	}
	return in, nil
}

// decodeObject returns the fields of the one JSON object event holds, each
// named exactly as an Input field and at most once; nil for an empty event
// or null. encoding/json alone would match names case-insensitively and let
// a repeated field silently override the first.
func decodeObject(event []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(event))
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	switch tok {
	case nil: // null: the defaults
	case json.Delim('{'):
		fields = map[string]json.RawMessage{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, unexpectedEOF(err)
			}
			name, _ := tok.(string) // Token returns only strings as keys
			if err := checkFieldName(name); err != nil {
				return nil, err
			}
			if _, dup := fields[name]; dup {
				return nil, fmt.Errorf("duplicate field %q", name)
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, unexpectedEOF(err)
			}
			fields[name] = v
		}
		if _, err := dec.Token(); err != nil { // the closing brace
			return nil, unexpectedEOF(err)
		}
	default:
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return fields, nil
}

// checkFieldName rejects a name that is not exactly an Input field.
func checkFieldName(name string) error {
	for _, f := range []string{"jobs", "startDate", "endDate"} {
		if name == f {
			return nil
		}
		if strings.EqualFold(name, f) {
			return fmt.Errorf("unknown field %q (names are case-sensitive: did you mean %q?)", name, f)
		}
	}
	return fmt.Errorf("unknown field %q", name)
}

// unexpectedEOF turns the end of the event inside the object into
// io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
