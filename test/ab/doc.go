// Package ab keeps the A/B benchmark of the hot path working:
// scripts/ab.sh builds the baseline commit (800ce9f, before the load
// limits) and this tree side by side and compares their CPU time per probe
// under wrk (docs/performance.md, "A/B against 800ce9f"). The full run
// takes about two minutes and wants a quiet machine, so CI runs its smoke
// mode only: both build, both answer, and the summary is printed. The
// package has only tests:
//
//	go test ./test/ab/ -v
package ab
