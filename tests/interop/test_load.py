"""Load: `ember query` holds 1,000 keep-alive connections to `ember serve` (demo model, loopback)
and sends 5,000 signed Prompting synapses. Passes when every request gets 200, each connection
slot stays on its one connection, and the server's resident memory after the last thousand
requests is within 10% + 5 MiB of what it was after the first thousand (no per-request leak).

Usage: test_load.py EMBER_BINARY   (exit 77 = skipped)"""
import os
import re
import resource
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ember_harness as H  # noqa: E402

CONNECTIONS = 1000
REQUESTS = 5000
STEP = 1000
RSS_TOLERANCE = (0.10, 5 * 1024)  # relative, absolute KiB


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
        with H.Server(ember, wallets, "miner",
                      ["--max-tokens", "4", "--max-connections", str(CONNECTIONS + 100)]) as srv:
            rss = {0: srv.rss_kb()}
            q = subprocess.Popen(
                [ember, "query", "--axon", f"127.0.0.1:{srv.port}", "--axon-hotkey", miner,
                 "--wallet.path", wallets, "--wallet.name", "validator", "--prompt", "Tell me about load tests.",
                 "--concurrency", str(CONNECTIONS), "--requests", str(REQUESTS), "--timeout", "120",
                 "--progress", str(STEP)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            err_lines = []
            for line in q.stderr:
                err_lines.append(line)
                m = re.match(r"progress (\d+)/", line)
                if m:
                    rss[int(m.group(1))] = srv.rss_kb()  # sampled while the connections are still open
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
            first, last = rss[STEP], rss[REQUESTS]
            limit = first * (1 + RSS_TOLERANCE[0]) + RSS_TOLERANCE[1]
            print(f"RSS after first {STEP}: {first} KiB, after {REQUESTS}: {last} KiB, limit {limit:.0f} KiB")
            assert last <= limit, f"server RSS grew from {first} to {last} KiB (limit {limit:.0f})"
    print("PASS")


if __name__ == "__main__":
    main()
