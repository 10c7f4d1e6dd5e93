// ticklint checks TICKscripts with Kapacitor's own code: parses them and builds their stream or
// batch pipelines (node and property names, lambda types) the way kapacitord defines a task,
// then validates the pipeline. Exit status 1 on the first broken script.
package main

import (
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/influxdata/kapacitor/pipeline"
	"github.com/influxdata/kapacitor/tick/stateful"
)

type deadman struct{}

func (deadman) Interval() time.Duration { return 10 * time.Second }
func (deadman) Threshold() float64      { return 0 }
func (deadman) Id() string              { return "deadman" }
func (deadman) Message() string         { return "deadman" }
func (deadman) Global() bool            { return false }

// A task is a batch task when its pipeline starts at `batch` (as kapacitord decides by its type).
var batchTask = regexp.MustCompile(`(?m)^\s*batch\b`)

func main() {
	failed := false
	for _, path := range os.Args[1:] {
		src, err := os.ReadFile(path)
		if err == nil {
			var p *pipeline.Pipeline
			edge := pipeline.StreamEdge
			if batchTask.Match(src) {
				edge = pipeline.BatchEdge
			}
			p, err = pipeline.CreatePipeline(string(src), edge, stateful.NewScope(), deadman{}, nil)
			if err == nil {
				err = pipeline.Validate(p)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
		} else {
			fmt.Printf("%s: ok\n", path)
		}
	}
	if failed {
		os.Exit(1)
	}
}
