#!/usr/bin/env bash
# Portrait + speech -> talking-head video on fal.ai. Same flags as the fal-lip-sync skill's script:
#   --image-url URL|PATH (--audio-url URL|PATH | --text TEXT) [--model/-m ID] [--tts-model ID]
#   [--voice ID] [--resolution R] [--async/-a | --wait/-w] [--poll-interval S] [--timeout S]
#   [--add-fal-key KEY]
# Prints the model's JSON result on stdout; progress on stderr.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m bot.cli talking-head "$@"
