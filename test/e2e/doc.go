// Package e2e is the network-namespace lab: it builds a small real network
// (client → r1 → r2 → server, IPv4 and IPv6) out of network namespaces, veth
// pairs, TUN links with user-space delay and nftables rules, runs the
// exporter in the client namespace and checks every verdict end to end
// through /probe. The package has only tests; see README.md for how to run
// them and what each scenario shows.
package e2e
