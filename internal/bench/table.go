package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Ref names one figure: a benchmark (e.g. "WriteUnits/plain/batch=10/ours")
// and a unit it reports (e.g. "wu/event").
type Ref struct {
	Bench string
	Unit  string
}

// Direction says which way a figure improves.
type Direction int

// The directions.
const (
	LowerIsBetter Direction = iota
	HigherIsBetter
)

// TargetKind says what a target bounds.
type TargetKind int

// The kinds of target.
const (
	// NoTarget: the figure is shown for information.
	NoTarget TargetKind = iota
	// AtMost: ours <= Value.
	AtMost
	// AtLeast: ours >= Value.
	AtLeast
	// AtMostTimesFloor: ours <= Value × floor.
	AtMostTimesFloor
	// GainAtLeast: ours is at least Value times better than the naive design.
	GainAtLeast
)

// Target is a figure's goal.
type Target struct {
	Kind  TargetKind
	Value float64
}

// String renders the target for the table.
func (t Target) String() string {
	v := strconv.FormatFloat(t.Value, 'f', -1, 64)
	if t.Value >= 1000 {
		v = Format(t.Value)
	}
	switch t.Kind {
	case AtMost:
		return "≤ " + v
	case AtLeast:
		return "≥ " + v
	case AtMostTimesFloor:
		return "≤ " + v + "× floor"
	case GainAtLeast:
		return "≥ " + v + "× naive"
	}
	return ""
}

// Row is one line of the table: our figure, its floor if it has one, the
// naive design's figure, and the target.
type Row struct {
	Figure string
	Unit   string
	Ours   Ref
	Floor  Ref // zero when the figure has no floor
	Naive  Ref // zero when there is no naive counterpart
	Better Direction
	Target Target
}

// Status of a row's target.
const (
	StatusMet      = "met"
	StatusMissed   = "MISSED"
	StatusMissing  = "not measured"
	StatusSkipped  = "skipped"
	StatusNoTarget = ""
)

// Line is a row evaluated against results.
type Line struct {
	Row
	Ours, Floor, Naive          float64
	HasOurs, HasFloor, HasNaive bool
	Status                      string
}

// Gain is how many times better ours is than the naive design.
func (l Line) Gain() (float64, bool) {
	if !l.HasOurs || !l.HasNaive || l.Ours == 0 || l.Naive == 0 {
		return 0, false
	}
	if l.Better == HigherIsBetter {
		return l.Ours / l.Naive, true
	}
	return l.Naive / l.Ours, true
}

// OverFloor is ours divided by the floor.
func (l Line) OverFloor() (float64, bool) {
	if !l.HasOurs || !l.HasFloor || l.Floor == 0 {
		return 0, false
	}
	return l.Ours / l.Floor, true
}

// Evaluate reads each row's figures from res and checks its target.
func Evaluate(rows []Row, res Results) []Line {
	lines := make([]Line, len(rows))
	for i, row := range rows {
		l := Line{Row: row}
		l.Ours, l.HasOurs = res.Get(row.Ours)
		if row.Floor != (Ref{}) {
			l.Floor, l.HasFloor = res.Get(row.Floor)
		}
		if row.Naive != (Ref{}) {
			l.Naive, l.HasNaive = res.Get(row.Naive)
		}
		l.Status = l.check()
		if !l.HasOurs && res.skipped(row.Ours) {
			l.Status = StatusSkipped
		}
		lines[i] = l
	}
	return lines
}

func (l Line) check() string {
	if l.Target.Kind == NoTarget {
		if !l.HasOurs {
			return StatusMissing
		}
		return StatusNoTarget
	}
	var ok, measured bool
	switch l.Target.Kind {
	case AtMost:
		ok, measured = l.Ours <= l.Target.Value, l.HasOurs
	case AtLeast:
		ok, measured = l.Ours >= l.Target.Value, l.HasOurs
	case AtMostTimesFloor:
		r, has := l.OverFloor()
		// Round as shown, so that the table never says 1.03 MISSED.
		ok, measured = round(r, 2) <= l.Target.Value, has
	case GainAtLeast:
		g, has := l.Gain()
		ok, measured = g >= l.Target.Value, has
	}
	switch {
	case !measured:
		return StatusMissing
	case ok:
		return StatusMet
	}
	return StatusMissed
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Render writes lines as an aligned Markdown table, then a summary line.
func Render(w io.Writer, lines []Line) error {
	header := []string{"figure", "unit", "ours", "floor", "ours/floor", "naive", "gain vs naive", "target", "status"}
	table := [][]string{header}
	for _, l := range lines {
		cell := func(v float64, has bool) string {
			if !has {
				return "—"
			}
			return Format(v)
		}
		times := func(v float64, has bool) string {
			if !has {
				return "—"
			}
			return strconv.FormatFloat(v, 'f', 2, 64) + "×"
		}
		r, hasR := l.OverFloor()
		g, hasG := l.Gain()
		floor, overFloor := cell(l.Floor, l.HasFloor), times(r, hasR)
		if l.Row.Floor == (Ref{}) {
			floor, overFloor = "", ""
		}
		naive, gain := cell(l.Naive, l.HasNaive), times(g, hasG)
		if l.Row.Naive == (Ref{}) {
			naive, gain = "", ""
		}
		table = append(table, []string{l.Figure, l.Unit, cell(l.Ours, l.HasOurs), floor, overFloor, naive, gain, l.Target.String(), l.Status})
	}

	widths := make([]int, len(header))
	for _, row := range table {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	writeRow := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i >= 2 && i <= 6 { // numbers to the right
				b.WriteString(" " + pad + c + " |")
			} else {
				b.WriteString(" " + c + pad + " |")
			}
		}
		b.WriteString("\n")
	}
	writeRow(table[0])
	b.WriteString("|")
	for i, wd := range widths {
		if i >= 2 && i <= 6 {
			b.WriteString(strings.Repeat("-", wd+1) + ":|")
		} else {
			b.WriteString(strings.Repeat("-", wd+2) + "|")
		}
	}
	b.WriteString("\n")
	for _, row := range table[1:] {
		writeRow(row)
	}

	counts := map[string]int{}
	for _, l := range lines {
		counts[l.Status]++
	}
	fmt.Fprintf(&b, "\ntargets: %d met, %d missed, %d not measured, %d skipped\n",
		counts[StatusMet], counts[StatusMissed], counts[StatusMissing], counts[StatusSkipped])
	_, err := io.WriteString(w, b.String())
	return err
}

// Format renders a figure with thousands separators above 1,000 and three
// significant digits below.
func Format(v float64) string {
	if math.Abs(v) >= 1000 {
		s := strconv.FormatInt(int64(math.Round(v)), 10)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	}
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1 || a == 0:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
