"""Run a module as `python -m` would, after pointing fal_client's storage hosts at a stand-in.

fal_client takes its queue host from FAL_QUEUE_RUN_HOST, but its storage hosts (rest.fal.ai,
v3.fal.media) are constants with no setting, so child processes in the tests start through here:
    python -m tests.bootstrap bot.cli talking-head ...
"""

import os
import runpy
import sys

import fal_client.client

from tests import no_dns

if url := os.environ.get("TEST_FAL_STORAGE_URL"):
    fal_client.client.REST_URL = url
    fal_client.client.CDN_URL = url

no_dns.install()  # no name but the machine's own is looked up (tests/no_dns.py)

module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
