package report

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/jangada-io/jangada/bench/harness"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// chartSpec describes one scaling curve: which rows, which axis.
type chartSpec struct {
	file, title, xLabel, yLabel string
	logX                        bool
	match                       func(*harness.Row) bool
	x                           func(*harness.Row) float64
	y                           func(*harness.Row) float64
}

func chartSpecs() []chartSpec {
	ops := func(r *harness.Row) float64 { return r.OpsPerSec }
	return []chartSpec{
		{
			file: "write-vs-clients.png", title: "Write throughput vs clients (3 nodes, 64 B)",
			xLabel: "concurrent clients", yLabel: "ops/s", logX: true,
			match: func(r *harness.Row) bool { return r.Scenario == harness.ScenarioWrite && r.Nodes == 3 && r.Size == 64 },
			x:     func(r *harness.Row) float64 { return float64(r.Clients) }, y: ops,
		},
		{
			file: "write-vs-payload.png", title: "Write throughput vs payload (3 nodes, 64 clients)",
			xLabel: "command size (bytes)", yLabel: "ops/s", logX: true,
			match: func(r *harness.Row) bool {
				return r.Scenario == harness.ScenarioWrite && r.Nodes == 3 && r.Clients == harness.HeadlineClients
			},
			x: func(r *harness.Row) float64 { return float64(r.Size) }, y: ops,
		},
		{
			file: "write-vs-payload-mbps.png", title: "Write bandwidth vs payload (3 nodes, 64 clients)",
			xLabel: "command size (bytes)", yLabel: "MiB/s of commands", logX: true,
			match: func(r *harness.Row) bool {
				return r.Scenario == harness.ScenarioWrite && r.Nodes == 3 && r.Clients == harness.HeadlineClients
			},
			x: func(r *harness.Row) float64 { return float64(r.Size) }, y: func(r *harness.Row) float64 { return r.MBPerSec },
		},
		{
			file: "write-vs-cluster-size.png", title: "Write throughput vs cluster size (64 B, 64 clients)",
			xLabel: "nodes", yLabel: "ops/s",
			match: func(r *harness.Row) bool {
				return r.Scenario == harness.ScenarioWrite && r.Size == 64 && r.Clients == harness.HeadlineClients
			},
			x: func(r *harness.Row) float64 { return float64(r.Nodes) }, y: ops,
		},
	}
}

// chartSeries groups the matching rows of rs by system into points sorted
// by x; systems with fewer than two points are left out.
func chartSeries(rs *harness.Results, spec chartSpec) ([]string, map[string]plotter.XYs) {
	series := map[string]plotter.XYs{}
	var names []string
	for _, r := range rs.Rows() {
		if r.Ops == 0 || !spec.match(r) {
			continue
		}
		if _, ok := series[r.System]; !ok {
			names = append(names, r.System)
		}
		series[r.System] = append(series[r.System], plotter.XY{X: spec.x(r), Y: spec.y(r)})
	}
	var kept []string
	for _, n := range names {
		pts := series[n]
		slices.SortFunc(pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		if len(pts) >= 2 {
			kept = append(kept, n)
		} else {
			delete(series, n)
		}
	}
	return kept, series
}

// WriteCharts renders every scaling curve that has data into dir as PNG and
// returns the file names written.
func WriteCharts(dir string, rs *harness.Results) ([]string, error) {
	var written []string
	for _, spec := range chartSpecs() {
		names, series := chartSeries(rs, spec)
		if len(names) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = spec.title
		p.X.Label.Text = spec.xLabel
		p.Y.Label.Text = spec.yLabel
		p.Y.Min = 0
		if spec.logX {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		}
		p.Legend.Top = true
		p.Legend.Left = true
		var args []any
		for _, n := range names {
			args = append(args, n, series[n])
		}
		if err := plotutil.AddLinePoints(p, args...); err != nil {
			return nil, fmt.Errorf("bench: chart %s: %w", spec.file, err)
		}
		if err := p.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(dir, spec.file)); err != nil {
			return nil, fmt.Errorf("bench: chart %s: %w", spec.file, err)
		}
		written = append(written, spec.file)
	}
	return written, nil
}
