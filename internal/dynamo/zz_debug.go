package dynamo

import (
	"fmt"
	"sync"
)

// DebugCounts TEMPORARY.
var DebugCounts = &debugCounter{m: map[string]int{}}

type debugCounter struct {
	mu sync.Mutex
	m  map[string]int
}

func (d *debugCounter) Add(k string) { d.mu.Lock(); d.m[k]++; d.mu.Unlock() }
func (d *debugCounter) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := fmt.Sprint(d.m)
	clear(d.m)
	return s
}
