#!/usr/bin/env bash
# Fuzzes PimQuant's file readers with the seeded mutation harness in tests/PimQuant.Fuzz.
# Usage: tests/fuzz/run.sh [SECONDS_PER_TARGET=600] [TARGET ...]
# Targets: onnx idx-images idx-labels cifar10 hardware-yaml quant-config cli-args (default: all). Corpus: tests/fuzz/corpus/TARGET,
# findings: tests/fuzz/findings/TARGET (an input plus its stack trace). A process that dies
# (a native crash) leaves its input as findings/TARGET/crash-*; the run then continues.
# Exit status 1 when anything was found. Commit new corpus entries and findings; turn every
# finding into a regression test (tests/PimQuant.Tests/Reliability/FuzzRegressionTests.cs replays them).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:-600}"; shift || true
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(onnx idx-images idx-labels cifar10 hardware-yaml quant-config cli-args)
out="$root/artifacts/fuzz"
dotnet build "$root/tests/PimQuant.Fuzz/PimQuant.Fuzz.csproj" -c Release -o "$out" --nologo -v q -clp:ErrorsOnly >&2 || exit 2
status=0
for target in "${targets[@]}"; do
  corpus="$root/tests/fuzz/corpus/$target"; findings="$root/tests/fuzz/findings/$target"
  mkdir -p "$findings"
  [ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ] || dotnet "$out/PimQuant.Fuzz.dll" --seeds "$target" "$corpus"
  end=$(( $(date +%s) + seconds )); run=0
  while [ "$(date +%s)" -lt "$end" ]; do
    left=$(( end - $(date +%s) )); run=$((run + 1))
    dotnet "$out/PimQuant.Fuzz.dll" "$target" "$corpus" "$findings" "$left" "$run"; code=$?
    if [ $code -gt 1 ] && [ -f "$findings/current" ]; then
      crash="$findings/crash-$(sha256sum "$findings/current" | cut -c1-16)"
      mv "$findings/current" "$crash"; echo "process died ($code) on input saved as $crash" >&2; status=1
    elif [ $code -eq 1 ]; then status=1; fi
  done
done
exit $status
