#!/usr/bin/env bash
# Video + speech -> the same video with synced lips on fal.ai. Same flags as the fal-lip-sync skill's script:
#   --video-url URL|PATH (--audio-url URL|PATH | --text TEXT) [--model/-m ID] [--sync-mode M]
#   [--async/-a] [--poll-interval S] [--timeout S] [--add-fal-key KEY]
# Prints the model's JSON result on stdout; progress on stderr.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m bot.cli lip-sync "$@"
