// Package testsupport is the root of the test harness: the packages below
// it start the exporter as a process (exporterproc), build network labs in
// namespaces (netlab), start loopback listeners and a DNS server
// (testnet), make certificates (testpki), list the metric names the
// collectors emit (metricnames) and skip or require tools and root
// (testenv). Tests, the end-to-end tests in test/ and the benchmark
// programs in bench/ use them; production code never does, which
// TestProductionNeverImportsTestSupport checks.
package testsupport
