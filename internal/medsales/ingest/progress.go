package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// LogProgress logs a structured progress line at most every interval:
// rows, rows/s, percentage of bytes read and an ETA when the size is
// known. It is what non-terminal runs (jobs, CI, ECS) show.
//
// Once the whole source is read, the load goes on with the indexes, the
// swap and the commit, which can take as long as the reading: it then logs
// a line every interval with "phase":"finishing", until Done, so that an
// operator (or a log-based alarm) can tell a load at work from a stuck one.
type LogProgress struct {
	ctx       context.Context
	log       *slog.Logger
	dataset   string
	every     time.Duration
	now       func() time.Time
	start     time.Time
	last      time.Time
	mu        sync.Mutex
	rows      int64
	finishing bool          // the whole source is read
	stop      chan struct{} // closed by Done: ends the finishing lines
	stopOnce  sync.Once
}

// NewLogProgress returns a LogProgress logging to log.
func NewLogProgress(ctx context.Context, log *slog.Logger, dataset string, every time.Duration, now func() time.Time) *LogProgress {
	t := now()
	return &LogProgress{ctx: ctx, log: log, dataset: dataset, every: every, now: now, start: t, last: t, stop: make(chan struct{})}
}

// Update logs when the interval has passed since the last line, and starts
// the finishing lines once bytes reaches a known total.
func (p *LogProgress) Update(rows, bytes, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rows = rows
	if total > 0 && bytes >= total && !p.finishing {
		p.finishing = true
		go p.finish(p.now())
	}
	t := p.now()
	if t.Sub(p.last) < p.every {
		return
	}
	p.last = t
	elapsed := t.Sub(p.start)
	attrs := []any{"dataset", p.dataset, "rows", rows, "rows_per_s", perSecond(rows, elapsed), "elapsed_s", int64(elapsed.Seconds())}
	if total > 0 && bytes > 0 {
		frac := float64(bytes) / float64(total)
		eta := time.Duration(float64(elapsed) * (1 - frac) / frac)
		attrs = append(attrs, "percent", int(frac*100), "eta_s", int64(eta.Seconds()))
	}
	p.log.InfoContext(p.ctx, "ingest progress", attrs...)
}

// finish logs a finishing line every interval until Done or the end of
// the context; read is when the source was read to its end.
func (p *LogProgress) finish(read time.Time) {
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.ctx.Done():
			return
		case <-tick.C:
			p.mu.Lock()
			t := p.now()
			p.last = t
			p.log.InfoContext(p.ctx, "ingest progress", "dataset", p.dataset, "rows", p.rows, "phase", "finishing",
				"detail", "source read; building indexes, swapping, committing", "elapsed_s", int64(t.Sub(p.start).Seconds()),
				"finishing_s", int64(t.Sub(read).Seconds()))
			p.mu.Unlock()
		}
	}
}

// Done ends the finishing lines; the service logs the final line, "ingest
// finished", "ingest failed" or "ingest interrupted".
func (p *LogProgress) Done(error) {
	p.stopOnce.Do(func() { close(p.stop) })
}

// BarProgress draws a terminal progress bar over the bytes of the source,
// with rows, rows/s and MB/s in its description and the bar's own ETA.
type BarProgress struct {
	w       io.Writer
	dataset string
	bar     *progressbar.ProgressBar
	start   time.Time
	now     func() time.Time
	// rows, bytes and total are the last position reported, which a
	// failed load's line repeats.
	rows, bytes, total int64
}

// NewBarProgress draws on w (a terminal). total is the source size in
// bytes, or -1 when unknown (the bar then spins).
func NewBarProgress(w io.Writer, dataset string, total int64, now func() time.Time) *BarProgress {
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(dataset),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
	)
	return &BarProgress{w: w, dataset: dataset, bar: bar, start: now(), now: now, total: total}
}

// Update moves the bar to bytes and shows the row rate.
func (p *BarProgress) Update(rows, bytes, total int64) {
	p.rows, p.bytes, p.total = rows, bytes, total
	if total > 0 && p.bar.GetMax64() != total {
		p.bar.ChangeMax64(total)
	}
	// Rates over the whole load: the bar's own byte rate is measured
	// between its renders and showed tens of GB/s for a jump of the
	// offset.
	elapsed := p.now().Sub(p.start)
	desc := fmt.Sprintf("%d rows (%d rows/s, %.1f MB/s)", rows, perSecond(rows, elapsed), float64(perSecond(bytes, elapsed))/1e6)
	// The last byte read is not the end of the load: the indexes, the
	// swap and the commit follow (as long as the reading on a large file),
	// and the load may still fail. The bar stops short of 100% and says
	// so; Done(nil) fills it.
	if total > 0 && bytes >= total {
		desc = fmt.Sprintf("%d rows read, finishing (indexes, swap)", rows)
		bytes = total - 1
	}
	p.bar.Describe(desc)
	_ = p.bar.Set64(bytes)
}

// Done ends the bar. A load that succeeded fills it. One that failed
// leaves it where the load stopped, never at 100%, and says so on a line
// of its own with the rows and the share of the source read; the error
// itself is the command's to print.
func (p *BarProgress) Done(err error) {
	if err == nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
		return
	}
	_ = p.bar.Exit()
	if p.bar.IsStarted() {
		fmt.Fprintln(p.w)
	}
	msg := fmt.Sprintf("%s: load failed after %d rows", p.dataset, p.rows)
	if p.total > 0 {
		msg += fmt.Sprintf(", %d%% of the source read", p.bytes*100/p.total)
	}
	fmt.Fprintln(p.w, msg)
}
