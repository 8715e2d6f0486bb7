"""Load: `ember query` holds 1,000 keep-alive connections to `ember serve` (demo model, loopback)
and sends 5,000 signed Prompting synapses. Passes when every request gets 200, each connection
slot stays on its one connection, the server's own connection gauge (ember_http_connections on
GET /metrics) shows all 1,000 open at the same moment, and the server's resident memory after the
last thousand requests is within 2% + 4 MiB of what it was after the first thousand (see
RSS_TOLERANCE for what that bound can and cannot detect).

The figures (requests/s, latency p50/p99, RSS after the first and the last thousand requests, the
peak of the gauge) are printed on one line starting "LOAD FIGURES:" (see it with ctest -V).

Usage: test_load.py EMBER_BINARY   (exit 77 = skipped)"""
import os
import re
import resource
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ember_harness as H  # noqa: E402

CONNECTIONS = 1000
REQUESTS = 5000
STEP = 1000
# How much the server's VmRSS may grow between the sample after request 1,000 and the one after
# request 5,000: 2% of it plus 4 MiB. What this bound can and cannot see, honestly: the server's
# RSS is ~300 MiB here, most of it the KV-cache pool allocated at start, and the 1,000
# connections' buffers are all allocated by the first sample. Measured on a 2-core machine it
# grows +0.65..0.9 MiB over those 4,000 requests, and with 30,000 requests it flattens at about
# +3 MiB after ~17,500 (allocator warm-up, not a leak). A leak of L bytes per request adds
# 4,000 * L, so the bound catches a per-request leak above (0.02 * RSS + 4 MiB) / 4,000 -- about
# 2.5 KiB per request at 300 MiB (the test prints the figure for the RSS it measured). A slower
# leak (hundreds of bytes a request) is within the bound and would need a much longer run to show.
RSS_TOLERANCE = (0.02, 4 * 1024)  # relative, absolute KiB
GAUGE = "ember_http_connections"  # net/metrics/server_metrics.cc: the server's open connections


def open_connections(port):
    """The server's connection gauge from GET /metrics (this scrape's own connection included)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as r:
        text = r.read().decode()
    m = re.search(rf"^{GAUGE} (\S+)$", text, re.M)
    assert m, f"no {GAUGE} in /metrics:\n{text}"
    return int(float(m.group(1)))


def figure(out, name):
    m = re.search(rf"^{re.escape(name)}:\s+(\S+)", out, re.M)
    return m.group(1) if m else "?"


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = need if hard == resource.RLIM_INFINITY else min(max(soft, need), hard)
    if target < need:
        H.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))  # inherited by both processes


def main():
    H.deadline(420)
    ember = H.ember_binary()
    raise_fd_limit(CONNECTIONS + 1000)
    with H.tempdir() as tmp:
        wallets = os.path.join(tmp, "wallets")
        miner = H.new_hotkey(ember, wallets, "miner")
        H.new_hotkey(ember, wallets, "validator")
        # A small KV cache: its pages become resident as blocks are first written, so a large
        # one would grow RSS for thousands of requests (the prefix cache hands out fresh blocks
        # before reusing cached ones) and look like a leak; this one is all written within the
        # first 1,000 requests.
        with H.Server(ember, wallets, "miner",
                      ["--max-tokens", "4", "--max-connections", str(CONNECTIONS + 100),
                       "--kv-cache-gb", "0.02"]) as srv:
            rss = {0: srv.rss_kb()}
            q = subprocess.Popen(
                [ember, "query", "--axon", f"127.0.0.1:{srv.port}", "--axon-hotkey", miner,
                 "--wallet.path", wallets, "--wallet.name", "validator", "--prompt", "Tell me about load tests.",
                 "--concurrency", str(CONNECTIONS), "--requests", str(REQUESTS), "--timeout", "120",
                 "--progress", str(STEP)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            err_lines = []
            gauge = {}  # requests done -> ember_http_connections, scraped mid-run
            for line in q.stderr:
                err_lines.append(line)
                m = re.match(r"progress (\d+)/", line)
                if m:
                    done = int(m.group(1))
                    rss[done] = srv.rss_kb()  # sampled while the connections are still open
                    if done < REQUESTS:
                        gauge[done] = open_connections(srv.port)
            out = q.stdout.read()
            q.wait()
            print(out, end="")
            print("".join(err_lines), end="")
            print("server VmRSS KiB by requests done: " + ", ".join(f"{k}: {v}" for k, v in sorted(rss.items())))
            assert q.returncode == 0, f"ember query exited {q.returncode}"
            assert re.search(rf"^requests:\s+{REQUESTS}$", out, re.M), out
            assert re.search(r"^errors:\s+0$", out, re.M), out
            assert re.search(rf"^status 200:\s+{REQUESTS}$", out, re.M), out
            # Keep-alive: every slot opened exactly one connection and kept it for all its requests.
            assert re.search(rf"^connections:\s+{CONNECTIONS}$", out, re.M), out
            assert srv.proc.poll() is None, "the server died under load"
            # All at once: the gauge counts the scrape's own connection too, so 1,000 of ember
            # query's (which opened exactly 1,000 in all, asserted above) were open together.
            print(f"{GAUGE} by requests done: " + ", ".join(f"{k}: {v}" for k, v in sorted(gauge.items())))
            peak = max(gauge.values(), default=0)
            first, last = rss[STEP], rss[REQUESTS]
            limit = first * (1 + RSS_TOLERANCE[0]) + RSS_TOLERANCE[1]
            leak_floor = (limit - first) / (REQUESTS - STEP)
            print(f"LOAD FIGURES: {REQUESTS} requests on {CONNECTIONS} keep-alive connections "
                  f"({peak - 1} open at once per /metrics), errors {figure(out, 'errors')}, "
                  f"{figure(out, 'requests/s')} requests/s, latency p50 {figure(out, 'latency p50')} ms "
                  f"p99 {figure(out, 'latency p99')} ms, server RSS {first} KiB after the first {STEP} "
                  f"and {last} KiB after the last ({last - first:+d} KiB; limit {limit:.0f} KiB, which "
                  f"catches a leak above {leak_floor:.2f} KiB/request)")
            assert peak - 1 >= CONNECTIONS, f"at most {peak - 1} of ember query's connections were open at once"
            assert last <= limit, f"server RSS grew from {first} to {last} KiB (limit {limit:.0f})"
    print("PASS")


if __name__ == "__main__":
    main()
