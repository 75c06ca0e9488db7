#!/bin/bash
# One ferrotune worker per GPU, as a Slurm job array sharing one study on
# PostgreSQL. Submit with: sbatch examples/distributed/slurm-array.sh
#SBATCH --job-name=ferrotune
#SBATCH --array=0-7            # 8 workers
#SBATCH --gres=gpu:1           # one GPU each
#SBATCH --cpus-per-task=4
#SBATCH --time=12:00:00
#SBATCH --output=ferrotune-%A-%a.log
set -euo pipefail

# The database URL; keep the password out of the script, e.g. in ~/.pgpass
# or an environment module.
: "${FERROTUNE_STORAGE:?set FERROTUNE_STORAGE=postgresql://USER@DB-HOST:5432/tuning}"

# Each worker runs trials one at a time on its own GPU until the study's
# n_trials is reached. A preempted worker's running trial is marked failed
# ("interrupted"), does not use up the budget, and is enqueued again for the
# next worker.
exec ferrotune run study.toml --storage "$FERROTUNE_STORAGE" --n-jobs 1
