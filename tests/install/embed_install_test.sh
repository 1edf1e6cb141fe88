#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, builds examples/embed against the installed package
# only (find_package(bipeft), bipeft::bipeft), runs it on a tiny model and the SST-2 sample, and checks
# what it wrote. ctest label `install`.
#   embed_install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="${1:?BUILD_DIR}"
src="${2:?SOURCE_DIR}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" >/dev/null
prefix="$work/prefix"
lib="$(find "$prefix" -name libbipeft.a | head -1)"
[ -n "$lib" ] || fail "libbipeft.a not installed"
[ -f "$(dirname "$lib")/cmake/bipeft/bipeftConfig.cmake" ] || fail "bipeftConfig.cmake not installed"
[ -f "$prefix/include/bipeft/bipeft.h" ] || fail "umbrella header bipeft/bipeft.h not installed"
[ ! -e "$prefix/include/bipeft/cli" ] || fail "the CLI's headers were installed"
[ -x "$prefix/bin/bipeft" ] || fail "the bipeft binary was not installed"
[ -f "$(dirname "$lib")/libbipeft_spm.so" ] || fail "the SentencePiece shim was not installed next to the library"
# The library holds no command-line code (no CLI11, nothing from src/bipeft/cli).
if nm -C "$lib" 2>/dev/null | grep -qE 'bipeft::cli::|CLI::App'; then fail "libbipeft.a contains CLI code"; fi

# The example builds from the install tree alone: the source tree's headers are not on its path.
cmake -S "$src/examples/embed" -B "$work/embed-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/embed-build" -j 2 >/dev/null
embed="$work/embed-build/embed"
[ -x "$embed" ] || fail "embed was not built"
if grep -q "$src/src" "$work/embed-build/CMakeFiles/embed.dir/flags.make" 2>/dev/null; then
  fail "embed compiled against the source tree's headers"
fi

# A tiny T5 with the real vocabulary (the installed bipeft binary makes it).
"$prefix/bin/bipeft" init --out "$work/model" --spiece "$src/examples/spiece.model" --d-model 32 --d-kv 8 \
  --d-ff 64 --layers 1 --heads 2 --dropout 0 --seed 3 >/dev/null

# Bad use: a usage line and exit 2; a missing data folder: an error naming it and exit 1.
set +e
"$embed" "$work/model" >/dev/null 2>"$work/usage.txt"; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "usage: embed" "$work/usage.txt" || fail "no usage error (rc $rc)"
set +e
"$embed" "$work/model" "$work/no-such-data" "$work/out-bad" >/dev/null 2>"$work/bad.txt"; rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "no-such-data" "$work/bad.txt" || fail "a missing data folder was not named (rc $rc)"

"$embed" "$work/model" "$src/examples/data/sst2" "$work/out" --epochs 1 >"$work/stdout.txt" 2>"$work/stderr.txt" ||
  { cat "$work/stderr.txt" >&2; fail "embed failed"; }
out="$work/out"
for f in structure.json budget_curve.svg structure_heatmap.svg scores.json adapter peft/bipeft_export.json; do
  [ -e "$out/$f" ] || fail "embed did not write $f"
done
grep -q '^\[search\]' "$work/stderr.txt" || fail "no search progress through the callback"
grep -q '^\[train\]' "$work/stderr.txt" || fail "no training progress through the callback"
command -v jq >/dev/null || fail "jq is missing (scripts/setup installs it)"
backbone="$(jq -r .backbone_params "$out/structure.json")"
budget="$(jq -r .budget "$out/structure.json")"
params="$(jq -r .trainable_params "$out/structure.json")"
modules="$(jq -r '.modules | length' "$out/structure.json")"
jq -e --argjson b "$backbone" '(.budget - 0.005 * $b) | fabs <= 1' "$out/structure.json" >/dev/null ||
  fail "budget $budget is not 0.5% of $backbone"
jq -e '.trainable_params > 0 and .trainable_params <= .budget' "$out/structure.json" >/dev/null ||
  fail "trainable $params not within (0, $budget]"
[ "$modules" -ge 1 ] || fail "no modules in structure.json"
[ "$(tail -1 "$work/stdout.txt" | jq -r .params)" = "$params" ] || fail "stdout's params differ from structure.json"
echo "embed against the install tree: OK ($modules modules, $params of $budget parameters)"
