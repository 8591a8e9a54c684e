#!/usr/bin/env bash
# expect_failure.sh <line>... -- <command>...: runs the command, which must fail (non-zero exit) and print
# every given line.
set -u
expected=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do expected+=("$1"); shift; done
shift
output=$("$@" 2>&1)
status=$?
echo "$output"
if [ $status -eq 0 ]; then echo "expect_failure.sh: the command succeeded"; exit 1; fi
for line in "${expected[@]}"; do
  if ! grep -qF -- "$line" <<<"$output"; then echo "expect_failure.sh: missing: $line"; exit 1; fi
done
exit 0
