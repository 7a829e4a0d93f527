package report

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/kafkakit/kit/loadtest/internal/hops"
	"github.com/kafkakit/kit/loadtest/internal/stats"
)

// Series is one named line of a plot.
type Series struct {
	Name   string
	Points []stats.TimePoint
}

// Curve is one named percentile distribution.
type Curve struct {
	Name   string
	Points []stats.QuantilePoint
}

// HLine is a named horizontal reference line, e.g. the floor's p99.
type HLine struct {
	Name string
	Ms   float64
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
}

// posMs keeps values plottable on a log axis.
func posMs(d time.Duration) float64 { return math.Max(Ms(d), 0.001) }

// latencyPlot is an empty plot with a log latency axis and a grid.
func latencyPlot(title, xLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = "latency (ms, log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// PlotTimeline draws p50, p99 and max per second of one timeline, plus
// reference lines, on a log latency axis.
func PlotTimeline(path, title string, s Series, refs []HLine) error {
	if len(s.Points) == 0 {
		return nil
	}
	p := latencyPlot(title, "seconds since start (by intended send time)")
	lines := []struct {
		name string
		v    func(stats.TimePoint) time.Duration
	}{
		{s.Name + " p50", func(t stats.TimePoint) time.Duration { return t.P50 }},
		{s.Name + " p99", func(t stats.TimePoint) time.Duration { return t.P99 }},
		{s.Name + " max", func(t stats.TimePoint) time.Duration { return t.Max }},
	}
	last := 0.0
	for i, l := range lines {
		xys := make(plotter.XYs, len(s.Points))
		for j, pt := range s.Points {
			xys[j].X = pt.Offset.Seconds()
			xys[j].Y = posMs(l.v(pt))
			last = math.Max(last, xys[j].X)
		}
		if err := addLine(p, l.name, xys, palette[i], false); err != nil {
			return err
		}
	}
	for i, r := range refs {
		if r.Ms <= 0 {
			continue
		}
		xys := plotter.XYs{{X: 0, Y: r.Ms}, {X: last, Y: r.Ms}}
		if err := addLine(p, r.Name, xys, palette[3+i%3], true); err != nil {
			return err
		}
	}
	return save(p, path)
}

// PlotPercentiles draws percentile distributions on the HdrHistogram axis:
// x is -log10(1-q), so 90%, 99%, 99.9% are evenly spaced; max sits at the end.
func PlotPercentiles(path, title string, curves []Curve, nines float64) error {
	p := latencyPlot(title, "percentile")
	ticks := []plot.Tick{{Value: 0, Label: "0%"}}
	for n := 1.0; n <= nines; n++ {
		ticks = append(ticks, plot.Tick{Value: n, Label: nineLabel(n)})
	}
	maxX := nines + 0.25
	ticks = append(ticks, plot.Tick{Value: maxX, Label: "max"})
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = 0, maxX
	drawn := 0
	for i, c := range curves {
		if len(c.Points) == 0 {
			continue
		}
		xys := make(plotter.XYs, 0, len(c.Points))
		for _, pt := range c.Points {
			x := maxX
			if pt.Quantile < 1 {
				x = math.Min(-math.Log10(1-pt.Quantile), nines)
			}
			xys = append(xys, plotter.XY{X: x, Y: posMs(pt.Value)})
		}
		if err := addLine(p, c.Name, xys, palette[i%len(palette)], false); err != nil {
			return err
		}
		drawn++
	}
	if drawn == 0 {
		return nil
	}
	return save(p, path)
}

// logTicks labels 1, 2 and 5 of every decade; plot.LogTicks labels only
// powers of ten, too few for latencies that span one or two decades.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for m := 1.0; m < 10; m++ {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

func nineLabel(n float64) string {
	q := 100 * (1 - math.Pow(10, -n))
	return fmt.Sprintf("%.*f%%", max(0, int(n)-2), q)
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashed bool) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	l.Color = c
	l.Width = vg.Points(1.2)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func save(p *plot.Plot, path string) error {
	p.Legend.ThumbnailWidth = vg.Points(20)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	if err := p.Save(9*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// PlotCPU draws CPU milliseconds per order per phase, one stacked bar per
// phase with a segment per process (the runner on top, apart from the
// stack). Nothing is written when no phase has CPU figures.
func (r *Result) PlotCPU(path string) error {
	cols := r.cpuColumns()
	if len(cols) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "CPU per order (floors: per relayed record), by process"
	p.Y.Label.Text = "CPU ms per order"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	labels := make([]string, len(cols))
	for i, c := range cols {
		labels[i] = c.head
	}
	p.NominalX(labels...)
	colors := append(append([]color.Color{}, palette...),
		color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff},
		color.RGBA{R: 0xbc, G: 0xbd, B: 0x22, A: 0xff}, color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff})
	names := cpuRows(cols)
	values := make([]plotter.Values, len(names))
	for i, name := range names {
		values[i] = make(plotter.Values, len(cols))
		for j, c := range cols {
			values[i][j], _ = c.cpu.perOrder(name)
		}
	}
	if err := stackBars(p, vg.Points(28), colors, names, values); err != nil {
		return fmt.Errorf("plot cpu: %w", err)
	}
	return save(p, path)
}

// stackBars adds a bar chart per series to p, each stacked on the one
// before, with its legend entry.
func stackBars(p *plot.Plot, width vg.Length, colors []color.Color, names []string, values []plotter.Values) error {
	var below *plotter.BarChart
	for i, name := range names {
		bars, err := plotter.NewBarChart(values[i], width)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		bars.LineStyle.Width = 0
		bars.Color = colors[i%len(colors)]
		if below != nil {
			bars.StackOn(below)
		}
		below = bars
		p.Add(bars)
		p.Legend.Add(name, bars)
	}
	return nil
}

// PlotHops draws where an order's time goes: a stacked bar of the hops'
// means for the orders around the median and one for the slowest 1%.
func PlotHops(path string, b *hops.Breakdown) error {
	if b == nil || b.Orders == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Where the time goes: hops of %d orders, mean ms", b.Orders)
	p.Y.Label.Text = "ms"
	p.NominalX("orders around the median", "slowest 1% of orders")
	names := make([]string, len(b.Hops))
	values := make([]plotter.Values, len(b.Hops))
	for i, h := range b.Hops {
		names[i], values[i] = h.Name, plotter.Values{h.MedianMean, h.SlowMean}
	}
	if err := stackBars(p, vg.Points(60), palette, names, values); err != nil {
		return fmt.Errorf("plot hops: %w", err)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	return save(p, path)
}
