// Package faultproxy is a fault-injecting reverse proxy for the DynamoDB JSON
// protocol, for tests. Put it in front of an emulator and point the SDK at it
// (AWS_ENDPOINT_URL_DYNAMODB): it answers some requests with throttling,
// 500/503 or transaction conflicts without forwarding them, and forwards some
// writes but loses the response, as a network or a DynamoDB front end can.
//
// It can also emulate DynamoDB's timing and its transaction-conflict rule
// (Config.Latency, Config.Conflicts): each operation takes its latency, a
// TransactWriteItems holds its items while it is in flight, and a write
// touching a held item is rejected, as DynamoDB does (TransactionConflict for
// a transaction, TransactionConflictException for a single-item write).
//
// Decisions come from a seeded generator, one per request in arrival order,
// so a run with the same seed and the same request order makes the same
// faults. The proxy also counts requests, faults and the write units of the
// writes the upstream applied, for cost benchmarks.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is one way the proxy misbehaves on a request.
type Fault int

// The faults. The first five are answered by the proxy and never reach the
// upstream; the last two reach it and are applied there.
const (
	None Fault = iota
	// Throttle answers 400 ThrottlingException.
	Throttle
	// ProvisionedThroughput answers 400 ProvisionedThroughputExceededException.
	ProvisionedThroughput
	// InternalError answers 500 InternalServerError.
	InternalError
	// Unavailable answers 503 ServiceUnavailable.
	Unavailable
	// Conflict answers a TransactWriteItems with 400
	// TransactionCanceledException whose first item has reason
	// TransactionConflict (the others None); on other operations it throttles.
	Conflict
	// LostResponse forwards the request, then answers 500 instead of the
	// upstream's response.
	LostResponse
	// ClosedConnection forwards the request, then closes the connection
	// without answering.
	ClosedConnection
)

// AllFaults lists every fault.
func AllFaults() []Fault {
	return []Fault{Throttle, ProvisionedThroughput, InternalError, Unavailable, Conflict, LostResponse, ClosedConnection}
}

// String names the fault.
func (f Fault) String() string {
	switch f {
	case None:
		return "none"
	case Throttle:
		return "throttle"
	case ProvisionedThroughput:
		return "provisioned-throughput"
	case InternalError:
		return "500"
	case Unavailable:
		return "503"
	case Conflict:
		return "conflict"
	case LostResponse:
		return "lost-response"
	case ClosedConnection:
		return "closed-connection"
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// Config says which requests get which faults.
type Config struct {
	// Seed seeds the generator that draws faults.
	Seed uint64
	// Rate is the probability, in [0, 1], that a request gets a fault.
	Rate float64
	// Faults are drawn uniformly when a request gets one (default AllFaults).
	Faults []Fault
	// Ops are the operations (X-Amz-Target suffixes such as "UpdateItem")
	// subject to faults (default: all).
	Ops []string
	// Decide, when set, picks each request's fault instead of Rate and
	// Faults, from the operation and the JSON request body: for rules such
	// as "always throttle updates of this datapoint".
	Decide func(op string, body []byte) Fault
	// Conflicts makes the proxy behave as DynamoDB does with concurrent
	// transactions: a TransactWriteItems forwarded upstream holds its items
	// for its latency and Hold (besides the upstream's own time); a
	// TransactWriteItems touching an item another one holds is cancelled,
	// its contended items with reason TransactionConflict, and a PutItem,
	// UpdateItem or DeleteItem on a held item is rejected with
	// TransactionConflictException. Both are counted as Conflict faults.
	Conflicts bool
	// Hold is how long a transaction holds its items under Conflicts, on top
	// of its Latency.
	Hold time.Duration
	// Latency is the time the proxy waits before forwarding a request, per
	// operation (X-Amz-Target suffix): the service's own time, which the
	// emulator behind it does not have. A transaction holds its items during
	// it under Conflicts. DynamoDBLatency gives typical figures.
	Latency map[string]time.Duration
}

// Typical DynamoDB latencies in one region, as DynamoDBLatency sets them.
const (
	TransactLatency = 15 * time.Millisecond
	WriteLatency    = 5 * time.Millisecond
)

// DynamoDBLatency returns typical latencies of DynamoDB writes for
// Config.Latency: TransactLatency for TransactWriteItems, WriteLatency for
// PutItem, UpdateItem, DeleteItem and BatchWriteItem. Reads get none.
func DynamoDBLatency() map[string]time.Duration {
	return map[string]time.Duration{
		"TransactWriteItems": TransactLatency,
		"PutItem":            WriteLatency,
		"UpdateItem":         WriteLatency,
		"DeleteItem":         WriteLatency,
		"BatchWriteItem":     WriteLatency,
	}
}

// Stats counts what went through the proxy.
type Stats struct {
	// Requests counts requests received, per operation.
	Requests map[string]int
	// Faults counts the faults injected, per fault.
	Faults map[Fault]int
	// WriteUnits counts the write request units of the writes the upstream
	// applied (HTTP 200), per operation, for items up to 1 KB: a PutItem,
	// UpdateItem or DeleteItem is 1, each request of a BatchWriteItem 1, each
	// item of a TransactWriteItems 2. Writes whose response was then lost
	// are included: they were applied and paid for.
	WriteUnits map[string]int64
}

// TotalWriteUnits returns the sum of WriteUnits.
func (s Stats) TotalWriteUnits() int64 {
	var n int64
	for _, u := range s.WriteUnits {
		n += u
	}
	return n
}

// Proxy is the fault-injecting http.Handler.
type Proxy struct {
	upstream *url.URL
	cfg      Config
	client   *http.Client

	mu       sync.Mutex
	rng      *rand.Rand
	stats    Stats
	heldKeys map[string]bool // items of the transactions in flight (Conflicts)
}

// New returns a proxy forwarding to the upstream base URL (e.g. an
// httptest.Server's URL).
func New(upstream string, cfg Config) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: upstream %q is not an absolute URL", upstream)
	}
	if cfg.Rate < 0 || cfg.Rate > 1 {
		return nil, fmt.Errorf("faultproxy: rate %v is outside [0, 1]", cfg.Rate)
	}
	if len(cfg.Faults) == 0 {
		cfg.Faults = AllFaults()
	}
	p := &Proxy{
		upstream: u,
		cfg:      cfg,
		client:   &http.Client{},
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		heldKeys: map[string]bool{},
	}
	p.Reset()
	return p, nil
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Requests:   maps.Clone(p.stats.Requests),
		Faults:     maps.Clone(p.stats.Faults),
		WriteUnits: maps.Clone(p.stats.WriteUnits),
	}
}

// Reset zeroes the counters.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = Stats{Requests: map[string]int{}, Faults: map[Fault]int{}, WriteUnits: map[string]int64{}}
}

// ServeHTTP forwards r to the upstream, or not, according to the fault drawn.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "faultproxy: read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndexByte(target, '.')+1:]
	fault := p.decide(op, body)
	if fault == None && p.cfg.Conflicts {
		switch op {
		case "TransactWriteItems":
			release, contended := p.hold(body)
			if contended != nil {
				writeConflict(w, body, contended)
				return
			}
			defer release()
			time.Sleep(p.cfg.Hold)
		case "PutItem", "UpdateItem", "DeleteItem":
			if p.held(body) {
				writeError(w, http.StatusBadRequest, "TransactionConflictException",
					"Transaction is ongoing for the item")
				return
			}
		}
	}
	time.Sleep(p.cfg.Latency[op])

	switch fault {
	case Throttle:
		writeError(w, http.StatusBadRequest, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
		return
	case ProvisionedThroughput:
		writeError(w, http.StatusBadRequest, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded.")
		return
	case InternalError:
		writeError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
		return
	case Unavailable:
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Service unavailable")
		return
	case Conflict:
		writeConflict(w, body, []int{0})
		return
	}

	resp, err := p.forward(r, body)
	if err != nil {
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	if resp.status == http.StatusOK {
		if units := writeUnits(op, body); units > 0 {
			p.mu.Lock()
			p.stats.WriteUnits[op] += units
			p.mu.Unlock()
		}
	}

	switch fault {
	case LostResponse:
		writeError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
		return
	case ClosedConnection:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		writeError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
		return
	}
	for k, vs := range resp.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// decide draws the request's fault and counts it.
func (p *Proxy) decide(op string, body []byte) Fault {
	fault := None
	if p.cfg.Decide != nil {
		fault = p.cfg.Decide(op, body)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests[op]++
	if p.cfg.Decide == nil && (len(p.cfg.Ops) == 0 || slices.Contains(p.cfg.Ops, op)) {
		// One draw for whether, one for which: the same sequence whatever
		// the rate.
		hit, pick := p.rng.Float64(), p.rng.IntN(len(p.cfg.Faults))
		if hit < p.cfg.Rate {
			fault = p.cfg.Faults[pick]
		}
	}
	if fault == Conflict && op != "TransactWriteItems" {
		fault = Throttle
	}
	if fault != None {
		p.stats.Faults[fault]++
	}
	return fault
}

// hold marks the items of a transaction as held until release is called, or
// returns (and counts as a conflict) the indexes of its items that another
// transaction holds.
func (p *Proxy) hold(body []byte) (release func(), contended []int) {
	keys := transactKeys(body)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, k := range keys {
		if k != "" && p.heldKeys[k] {
			contended = append(contended, i)
		}
	}
	if contended != nil {
		p.stats.Faults[Conflict]++
		return nil, contended
	}
	for _, k := range keys {
		if k != "" {
			p.heldKeys[k] = true
		}
	}
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, k := range keys {
			delete(p.heldKeys, k)
		}
	}, nil
}

// held reports (and counts as a conflict) a single-item write whose item a
// transaction in flight holds.
func (p *Proxy) held(body []byte) bool {
	var in op
	if json.Unmarshal(body, &in) != nil {
		return false
	}
	k := in.key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.heldKeys[k] {
		return false
	}
	p.stats.Faults[Conflict]++
	return true
}

// keyAttributes are the attributes that make up an item's key in the tables
// the proxy stands in front of: a Put names its item by these.
var keyAttributes = []string{"datapoint", "id"}

// op is one write of a request: a single-item write's body or one action of
// a TransactWriteItems.
type op struct {
	TableName string
	Key, Item map[string]json.RawMessage
}

// key names the item an operation writes: the table and the item's key (a
// Put's key attributes), in a canonical form.
func (o op) key() string {
	key := o.Key
	if o.Item != nil {
		key = map[string]json.RawMessage{}
		for _, a := range keyAttributes {
			if v, ok := o.Item[a]; ok {
				key[a] = v
			}
		}
	}
	canonical, _ := json.Marshal(key) // map keys sorted
	return o.TableName + "\x00" + string(canonical)
}

// transactKeys names the items of a TransactWriteItems request, index-aligned
// with its actions ("" for an action the proxy cannot read).
func transactKeys(body []byte) []string {
	var in struct {
		TransactItems []struct{ Put, Update, Delete, ConditionCheck *op }
	}
	if json.Unmarshal(body, &in) != nil {
		return nil
	}
	keys := make([]string, len(in.TransactItems))
	for i, it := range in.TransactItems {
		for _, o := range []*op{it.Put, it.Update, it.Delete, it.ConditionCheck} {
			if o != nil {
				keys[i] = o.key()
			}
		}
	}
	return keys
}

// forward sends the request to the upstream and reads the whole response.
// The upstream request outlives the client's: a write the client gave up on
// is still applied, as on a real service.
// upstreamAnswer is what the upstream answered, its body read and closed.
type upstreamAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (p *Proxy) forward(r *http.Request, body []byte) (upstreamAnswer, error) {
	u := *p.upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + r.URL.Path
	u.RawQuery = r.URL.RawQuery
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return upstreamAnswer{}, fmt.Errorf("forward %s: %w", r.Header.Get("X-Amz-Target"), err)
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		return upstreamAnswer{}, fmt.Errorf("forward %s: %w", r.Header.Get("X-Amz-Target"), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return upstreamAnswer{}, fmt.Errorf("read upstream response: %w", err)
	}
	return upstreamAnswer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// writeUnits returns the write units of a write request (0 for reads and
// control-plane operations).
func writeUnits(op string, body []byte) int64 {
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem":
		return 1
	case "BatchWriteItem":
		var in struct {
			RequestItems map[string][]json.RawMessage
		}
		if json.Unmarshal(body, &in) != nil {
			return 0
		}
		var n int64
		for _, reqs := range in.RequestItems {
			n += int64(len(reqs))
		}
		return n
	case "TransactWriteItems":
		return 2 * int64(transactItems(body))
	}
	return 0
}

func transactItems(body []byte) int {
	var in struct{ TransactItems []json.RawMessage }
	if json.Unmarshal(body, &in) != nil {
		return 0
	}
	return len(in.TransactItems)
}

// writeError answers a DynamoDB JSON protocol error.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]string{
		"__type":  "com.amazonaws.dynamodb.v20120810#" + typ,
		"message": msg,
	})
}

// writeJSON answers v as DynamoDB does, with the CRC32 of the body in
// X-Amz-Crc32, which the SDK checks.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "faultproxy: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeConflict cancels a transaction as DynamoDB does when another
// transaction holds some of its items: those (by index) have reason
// TransactionConflict, the others None.
func writeConflict(w http.ResponseWriter, body []byte, contended []int) {
	type reason struct {
		Code    string
		Message string `json:",omitempty"`
	}
	reasons := make([]reason, max(transactItems(body), 1))
	for i := range reasons {
		reasons[i].Code = "None"
	}
	for _, i := range contended {
		if i < len(reasons) {
			reasons[i] = reason{Code: "TransactionConflict", Message: "Transaction is ongoing for the item"}
		}
	}
	writeJSON(w, http.StatusBadRequest, map[string]any{
		"__type":              "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
		"message":             "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
		"CancellationReasons": reasons,
	})
}
