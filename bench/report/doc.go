// Package report turns a run's harness.Results into the benchmark report:
// the targets and the headline ratio, the Markdown report (report.md and
// RESULTS.md), results.csv, PNG charts, and explanations of a missed
// target.
package report
