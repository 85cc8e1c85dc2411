package dlq

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// Formats of WriteList.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatCSV   = "csv"
)

// previewLength is how many characters of a body a listing shows.
const previewLength = 80

// ListEntry is one message as a listing shows it.
type ListEntry struct {
	ID                   string    `json:"id"`
	Identity             string    `json:"identity"`
	Reason               string    `json:"reason"`
	MovedByRedrivePolicy bool      `json:"movedByRedrivePolicy"`
	SentAt               time.Time `json:"sentAt"`
	AgeSeconds           int64     `json:"ageSeconds"`
	ReceiveCount         int       `json:"receiveCount"`
	BodyPreview          string    `json:"bodyPreview"`
}

// Entry returns m as a listing shows it at now.
func Entry(m Message, now time.Time) ListEntry {
	return ListEntry{
		ID:                   m.ID,
		Identity:             m.Identity,
		Reason:               m.Reason,
		MovedByRedrivePolicy: m.MovedByRedrivePolicy(),
		SentAt:               m.SentAt,
		AgeSeconds:           int64(m.Age(now) / time.Second),
		ReceiveCount:         m.ReceiveCount,
		BodyPreview:          preview(m.Body),
	}
}

// WriteList writes msgs in format (FormatTable, FormatJSON: one JSON object a
// line, or FormatCSV with a header), ages as of now.
func WriteList(w io.Writer, format string, msgs []Message, now time.Time) error {
	var err error
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		for _, m := range msgs {
			if err = enc.Encode(Entry(m, now)); err != nil {
				break
			}
		}
	case FormatCSV:
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"id", "identity", "reason", "moved_by_redrive_policy", "sent_at", "age_seconds", "receive_count", "body_preview"})
		for _, m := range msgs {
			e := Entry(m, now)
			_ = cw.Write([]string{e.ID, e.Identity, e.Reason, strconv.FormatBool(e.MovedByRedrivePolicy), e.SentAt.Format(time.RFC3339), strconv.FormatInt(e.AgeSeconds, 10), strconv.Itoa(e.ReceiveCount), e.BodyPreview})
		}
		cw.Flush()
		err = cw.Error()
	case FormatTable:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "AGE\tRECEIVES\tIDENTITY\tREASON\tBODY")
		for _, m := range msgs {
			reason := oneLine(m.Reason)
			if m.MovedByRedrivePolicy() {
				reason = NoReason
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.Age(now).Round(time.Second), m.ReceiveCount, m.Identity, reason, oneLine(preview(m.Body)))
		}
		err = tw.Flush()
	default:
		return fmt.Errorf("unknown format %q (want %s, %s or %s)", format, FormatTable, FormatJSON, FormatCSV)
	}
	if err != nil {
		return fmt.Errorf("write list: %w", err)
	}
	return nil
}

// ExportEntry is one message as export writes it: what it takes to fix the
// event by hand and publish it again under its identity.
type ExportEntry struct {
	ID         string            `json:"id"`
	Identity   string            `json:"identity"`
	Reason     string            `json:"reason"`
	Attributes map[string]string `json:"attributes"`
	Body       string            `json:"body"`
}

// WriteExport writes msgs as JSON lines of ExportEntry.
func WriteExport(w io.Writer, msgs []Message) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, m := range msgs {
		if err := enc.Encode(ExportEntry{ID: m.ID, Identity: m.Identity, Reason: m.Reason, Attributes: m.Attributes, Body: m.Body}); err != nil {
			return fmt.Errorf("write export: %w", err)
		}
	}
	return nil
}

// preview is the start of a body, with "…" when cut.
func preview(body string) string {
	if utf8.RuneCountInString(body) <= previewLength {
		return body
	}
	runes := []rune(body)
	return string(runes[:previewLength]) + "…"
}

// oneLine replaces line breaks and tabs, which would break a table row.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ", "\t", " ").Replace(s)
}
