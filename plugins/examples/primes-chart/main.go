// Command primes-chart is the example plugin with a UI component: its
// backend counts the primes in each block of numbers (GET /series), and
// its ui/ folder holds a page that the manager page frames in the
// plugin's detail view, which draws those counts as a bar chart. The page
// reaches the endpoint through the bridge the host serves
// (/plugins-ui/bridge-v1.js), never directly.
package main

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

// Defaults, and the most the series may cover.
const (
	defaultLimit = 1000
	defaultBlock = 100
	maxLimit     = 1_000_000
)

// PrimesChart embeds sdk.Base for the lifecycle defaults.
type PrimesChart struct {
	sdk.Base

	mu           sync.RWMutex
	limit, block int
}

// NewPlugin is the symbol the host looks up.
func NewPlugin() sdk.KubestellarPlugin {
	return &PrimesChart{limit: defaultLimit, block: defaultBlock}
}

// GetMetadata agrees with plugin.yaml.
func (p *PrimesChart) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "primes-chart", Name: "Primes chart", Version: "1.0.0"}
}

// Initialize reads limit and block_size from the configuration.
func (p *PrimesChart) Initialize(config map[string]interface{}) error {
	return p.OnConfigChange(config)
}

// OnConfigChange takes new values of limit and block_size.
func (p *PrimesChart) OnConfigChange(config map[string]interface{}) error {
	limit, block := intOr(config["limit"], defaultLimit), intOr(config["block_size"], defaultBlock)
	if limit < 2 || limit > maxLimit || block < 1 || block > limit {
		return fmt.Errorf("limit must be 2 to %d and block_size 1 to limit, got %d and %d", maxLimit, limit, block)
	}
	p.mu.Lock()
	p.limit, p.block = limit, block
	p.mu.Unlock()
	return nil
}

func intOr(v any, def int) int {
	switch n := v.(type) {
	case int:
		return n
	case float64:
		return int(n)
	}
	return def
}

// GetHandlers maps the manifest's handler names to functions.
func (p *PrimesChart) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{"Series": p.Series}
}

// Series answers how many primes each block holds.
func (p *PrimesChart) Series(c *gin.Context) {
	p.mu.RLock()
	limit, block := p.limit, p.block
	p.mu.RUnlock()
	counts := primesPerBlock(limit, block)
	total := 0
	for _, n := range counts {
		total += n
	}
	c.JSON(http.StatusOK, gin.H{"limit": limit, "block_size": block, "counts": counts, "total": total})
}

// primesPerBlock sieves the numbers below limit and counts the primes in
// each block of block numbers: [0, block), [block, 2*block), ...
func primesPerBlock(limit, block int) []int {
	composite := make([]bool, limit)
	counts := make([]int, (limit+block-1)/block)
	for n := 2; n < limit; n++ {
		if composite[n] {
			continue
		}
		counts[n/block]++
		for m := n * n; m < limit; m += n {
			composite[m] = true
		}
	}
	return counts
}
