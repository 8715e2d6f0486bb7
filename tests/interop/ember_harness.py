"""Shared pieces of the interop tests: skipping, wallets made with `ember key new`, and an
`ember serve` (demo model) on 127.0.0.1 with an ephemeral port."""
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77  # registered as SKIP_RETURN_CODE in tests/interop/CMakeLists.txt
_servers = []  # killed by deadline() so a hung test leaves no server behind


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def ember_binary():
    path = os.environ.get("EMBER_BINARY") or (sys.argv[1] if len(sys.argv) > 1 else "")
    if not path or not os.access(path, os.X_OK):
        skip(f"no ember binary at {path!r}")
    help_text = subprocess.run([path, "--help"], capture_output=True, text=True).stdout
    if "serve" not in help_text or "query" not in help_text:
        skip("this ember has no `serve`/`query` subcommand")
    return path


def new_hotkey(ember, wallet_path, name, hotkey="default"):
    """Creates WALLET_PATH/NAME/hotkeys/HOTKEY and returns its SS58 address."""
    out = subprocess.run([ember, "key", "new", "--wallet.path", wallet_path, "--wallet.name", name,
                          "--wallet.hotkey", hotkey], capture_output=True, text=True, check=True).stdout
    m = re.search(r"ss58:\s+(\S+)", out)
    assert m, out
    return m.group(1)


class Server:
    """`ember serve` with the demo model; stderr is collected so failures can show it."""

    def __init__(self, ember, wallet_path, wallet_name, extra=()):
        self.log = []
        self.proc = subprocess.Popen(
            [ember, "serve", "--host", "127.0.0.1", "--port", "0", "--wallet.path", wallet_path,
             "--wallet.name", wallet_name, "--wallet.hotkey", "default", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _servers.append(self.proc)
        self.port = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on http://[^\s]+:(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(120) or self.port is None:
            self.stop()
            raise AssertionError("ember serve did not start:\n" + "".join(self.log))

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            sys.stderr.write("--- ember serve log ---\n" + "".join(self.log[-50:]))


def tempdir():
    return tempfile.TemporaryDirectory(prefix="ember-interop-")


def deadline(seconds):
    """Kills the whole test if it hangs (a test must never hang)."""
    def fire():
        sys.stderr.write(f"FAIL: test exceeded {seconds} s\n")
        for p in _servers:
            if p.poll() is None:
                p.kill()
        os._exit(1)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t


def wait_until(pred, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
