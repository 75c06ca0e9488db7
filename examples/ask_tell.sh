#!/usr/bin/env bash
# Drive a study from the shell with ask/tell: any language can do the same.
#   FERROTUNE=target/release/ferrotune examples/ask_tell.sh
set -euo pipefail
ft=${FERROTUNE:-ferrotune}
storage=${STORAGE:-sqlite:///ferrotune-examples.db}
here=$(dirname "$0")
for _ in 1 2 3 4 5; do
  out=$($ft ask --storage "$storage" --study ask-tell-demo --space "$here/space.json" --sampler qmc --seed 3)
  trial=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["trial"])' "$out")
  x=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["params"]["x"])' "$out")
  value=$(python3 -c "print(($x - 2) ** 2)")
  $ft tell --storage "$storage" --study ask-tell-demo --trial "$trial" --value "$value"
  echo "trial $trial: x=$x value=$value"
done
$ft best --storage "$storage" --study ask-tell-demo
