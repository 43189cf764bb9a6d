// Package dashboard is the web UI that `nodewatch run` serves on --listen:
// an overview of the nodes (status, memory used / requested / allocatable,
// open incidents, the fastest-growing pods), a page per node (its Ready and
// Lease timeline, its pods' memory stacked with the node's major-page-fault
// rate, events, incidents), per pod (memory and CPU against request and
// limit, restarts and OOM kills, the leak verdict and forecast) and per
// incident (timeline, the pods on the node, evidence, the suspects ranking),
// and the audit and recommendations tables with the fixes and patches to
// copy.
//
// Everything is in the binary (go:embed): one HTML shell rendered with
// html/template, a stylesheet and a small vanilla script that draws the
// charts as SVG. Nothing is fetched from anywhere but the daemon itself, so
// it works offline. The script builds the page with createElement and
// textContent only — never innerHTML — so pod names, labels, event messages
// and the like are shown as text, whatever they contain; a strict
// Content-Security-Policy backs that up.
//
// The pages read JSON from /api/ui/..., computed here from the same sources
// the CLI reads: the informer cache, the incidents and events in the data
// dir, and the resource history through PromQL (the queries of `nodewatch
// top`, `leaks` and `suspects`), judged by analyze/leak and ranked by
// analyze/culprit. The audit and recommendations run audit.Run and
// recommend.Recommend, the code behind `nodewatch audit` and `nodewatch
// recommend`, on the informer cache (tables.go says what is listed live and
// what is cached). The work is done on the server and every series is
// bounded (MaxPoints), so a page stays small and quick at 1,000 nodes.
//
// RequireToken guards the whole HTTP server when it listens beyond loopback.
package dashboard
