// Package check is the `tcp_verdict_exporter check` command: it runs the
// same probes as /probe, with the same modules, for a person at a terminal
// or a script, and prints what each answer means and whom to ask.
//
//	tcp_verdict_exporter check [--module M] [--timeout D] [--output=text|json|junit|tap]
//	    [--expect LIST] [--targets-file FILE] [--baseline FILE] [TARGET...]
//
// # Expected verdicts and change windows
//
// --expect LIST states the verdict each target must have: classes and the
// aliases blocked (firewall,unreachable) and reachable (connected,
// closed_by_peer,refused), comma-separated; it wins over the module's own
// expect. --targets-file reads more targets from a Prometheus file_sd file
// (JSON or YAML, by its extension), each entry's labels module and expect
// (or __param_module, __param_expect) giving its targets' module and
// expectation; --module and --expect fill in for an entry without them.
// --baseline FILE, an earlier --output=json, adds what changed since (each
// target whose verdict differs, is new or is gone: target, before -> after)
// to every output. docs/expectations.md shows a change window with them.
//
// --output=junit writes JUnit XML (one testcase per target; a failure when
// the expectation did not hold, or without one when the probe failed; an
// error when the target policy refused it or this host failed); --output=tap
// writes TAP version 13.
//
// # Text output
//
// For each target, in the order given, the telnet-style transcript then the
// verdict block that /probe?debug=true also shows (package report): verdict,
// evidence, phase timings, banner, what it means and whom to ask; then, when
// the module's path trace ran, a table of the hops (TTL, address, RTT, what
// each said) instead of the transcript's traceroute lines. Targets are
// probed concurrently; on a terminal a progress line shows what is still
// running. With several targets a one-line-per-target table ends the output.
// Colour is used only on a terminal, and never when NO_COLOR is set (to any
// non-empty value) or TERM is dumb.
//
// # JSON output
//
// --output=json writes one JSON object once every probe has finished. Field
// names match the exporter's metric labels where a metric has the value
// (class, reason, responder, phase, target). Every field is always present:
// empty strings, zeros and nulls stand for "nothing". The schema is stable:
// fields may be added, never renamed or removed (testdata/json_keys.golden
// guards it).
//
//	{
//	  "module":    string  --module ("tcp" by default)
//	  "exit_code": int     the command's exit status (see below)
//	  "changes":   [object] what changed since --baseline, or null without one:
//	    {"target": string, "module": string, "before": string (class, "not probed", or "" when new),
//	     "after": string (likewise, "" when gone), "expectation": string, "expected": bool or null}
//	  "results": [         one per target: the command line's in order, then the targets file's
//	    {
//	      "target":              string  the target as given
//	      "module":              string  the module it was probed with
//	      "expectation":         string  tcp_verdict_expected{expectation}: the expected classes; "" when none
//	      "expected":            bool    tcp_verdict_expected: the verdict is one of them; null when none
//	      "class":               string  tcp_verdict{class}: connected, closed_by_peer, ...
//	      "reason":              string  tcp_verdict_info{reason}: syn-ack, fin, reset, conn-refused, ...
//	      "responder":           string  tcp_verdict_info{responder}: who produced the evidence; "" if nobody answered
//	      "success":             bool    probe_success: connected and every expectation met; with an
//	                                     expected verdict, it held (and a connected session met its own)
//	      "exit_code":           int     this target's own exit status
//	      "address":             string  address dialled, ip:port; "" when the name did not resolve
//	      "source":              string  this host's address used for the probe; "" when unknown
//	      "ip_protocol":         int     probe_ip_protocol: 4 or 6; 0 when the name did not resolve
//	      "duration_seconds":    number  probe_duration_seconds
//	      "phases":              object  tcp_phase_duration_seconds: seconds per phase label
//	                                     (resolve, connect, hold; tls and query when the module uses them)
//	      "banner":              string  first line the peer sent, sanitised; ""
//	      "failed_due_to_regex": bool    probe_failed_due_to_regex
//	      "failure":             string  why success is false although the class is connected: the real error; ""
//	      "failure_phase":       string  tcp_session_failure_info{phase}: tls, query or hold; ""
//	      "failure_cause":       string  tcp_session_failure_info{cause}: expired, not-tls, expect-timeout, ...; ""
//	      "expect_labels":       object  probe_expect_info labels, name to value; {}
//	      "icmp":                object  the ICMP error behind the verdict, or null:
//	                                     {"protocol": "icmp"|"icmp6", "type": int, "code": int, "offender": string}
//	      "trace":               object  the path trace (module's tcp.trace), or null when none ran:
//	        "hops_answered":     int     tcp_trace_hops_answered: hops that answered
//	        "last_hop":          int     tcp_trace_last_hop: TTL of the last hop that answered; 0 if none
//	        "last_hop_address":  string  tcp_trace_last_hop_info{address}; "" if none
//	        "last_hop_reason":   string  tcp_trace_last_hop_info{reason}: time-exceeded, admin-prohibited, syn-ack, ...; ""
//	        "path":              string  the trace in one sentence: where the traffic was last seen
//	        "hops":              [object] every TTL from 1 to the hop that ended the trace (or max_hops):
//	          {"ttl": int, "address": string ("" when nothing answered), "rtt_seconds": number,
//	           "reason": string, "answer": string (e.g. "time-exceeded (icmp 11/0)", "no answer"),
//	           "reached": bool (the target answered), "icmp": object like "icmp" above, or null}
//	      "addresses":           [object] every address dialled (module's tcp.addresses: all), preferred
//	                                     family first, or null in "first" mode; the verdict above is the first
//	                                     address that connected, else the first address's:
//	          {"address": string (ip:port), "class": string, "reason": string, "responder": string,
//	           "success": bool, "duration_seconds": number, "failure": string, "error": string}
//	      "host":                object  the host check (module's tcp.control_ports, after a refused or
//	                                     silent connect; docs/host-evidence.md), or null when none was due:
//	        "tried":             bool    a control port was asked (tcp_host_up exists)
//	        "up":                bool    tcp_host_up: the host answered a control port
//	        "host_hops":         int     tcp_host_hops: TTL of the host's first answer; 0 if none or not measured
//	        "reset_hops":        int     tcp_reset_hops: TTL of the probed port's first RST; 0 if none or not measured
//	        "host_port":         int     the control port host_hops was measured on; 0
//	        "note":              string  what the evidence shows, or why nothing more can be told
//	        "skipped":           string  tcp_host_check_skipped's reason when the check could not run; ""
//	        "error":             string  the error behind skipped; ""
//	        "control_ports":     [object] after a silent connect, each control port's answer, or null:
//	          {"port": int, "reason": string ("" no answer), "from": string, "host": bool (from the host)}
//	        "reset_trace", "host_trace": [object] after a refused connect, the TTL-limited SYNs to the
//	                                     probed port and to host_port, hops as in "trace", or null
//	      "intermittent":        bool    the attempts (module's tcp.attempts > 1) ended in more than one class
//	      "attempt_counts":      object  tcp_verdict_attempts: attempts per class, every class (0s included);
//	                                     a probe of one attempt counts its class once, a refused one nothing
//	      "attempts":            [object] every attempt (module's tcp.attempts > 1) in the order started, or
//	                                     null; the verdict above is theirs when they agree, else the failing
//	                                     class most attempts met (docs/intermittent.md):
//	          {"source": string (our ip:port), "class": string, "reason": string, "responder": string,
//	           "success": bool, "syn_retransmits": int, "connect_seconds": number,
//	           "duration_seconds": number, "error": string}
//	      "syn_retransmits":     int     tcp_syn_retransmits: SYNs sent again before a handshake completed
//	      "error":               string  the underlying error, for logs; "" when connected
//	      "refused":             string  the target policy's refusal, e.g. "target 127.0.0.1 refused by
//	                                     target_policy.deny 127.0.0.0/8": nothing was dialled, and class,
//	                                     reason and the fields explaining them are ""; "" when not refused
//	      "evidence":            string  what the kernel reported (the reason's evidence), or, when the
//	                                     session connected and then failed, what failed (the cause's)
//	      "meaning":             string  what that most likely means
//	      "ambiguity":           string  what else the same evidence can mean; ""
//	      "owner":               string  who fixes it, as a team name
//	      "ask":                 string  whom to ask, and for what
//	      "transcript":          [string] the telnet-style transcript, one line each
//	    }
//	  ]
//	}
//
// # Exit status
//
// Each target gets a code; the command exits with the highest of them, which
// is the failure furthest from the service (a name that does not resolve
// hides whether a firewall is in the way, a firewall hides whether anything
// listens). The class codes are defined once, in verdict.ClassInfo.ExitCode.
//
//	0    every target connected and met every expectation; with an expected
//	     verdict, it held
//	2    bad input: no target, no port, unknown module, unreadable or invalid
//	     config, bad --timeout, --output, --expect, --baseline or targets file
//	     (the error names the file and the entry); a one-line error on stderr,
//	     no probe runs.
//	     Also when the config's target policy refuses a target
//	     (docs/security.md, "Target policy"): that target is not dialled,
//	     its refusal goes to stderr, the other targets are probed, and 2
//	     wins over their codes
//	3    connected, but an expectation failed (query_response, TLS)
//	4    closed_by_peer
//	5    refused
//	6    firewall
//	7    unreachable
//	8    dns_error
//	9    error (this host failed to make the probe), with an expected verdict too
//	10   a verdict was not the expected one (--expect, an entry's expect, the
//	     module's expect), whatever its class
//	130  interrupted (Ctrl-C, SIGTERM)
//
// Exit status 1 is never used by the command itself.
package check
