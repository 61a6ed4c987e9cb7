#!/usr/bin/env bash
# Takes a node out of the cluster (`delete.sh node NAME` on a node that stays, `delete.sh
# leave` on the one leaving) before clean.sh: the example keeps no cluster state, so there is
# nothing to do.
set -euo pipefail
