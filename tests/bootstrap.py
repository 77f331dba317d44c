"""Run a module as `python -m` would, after pointing fal_client's storage hosts at a stand-in.

fal_client takes its queue host from FAL_QUEUE_RUN_HOST, but its storage hosts (rest.fal.ai,
v3.fal.media) are constants with no setting, so child processes in the tests start through here:
    python -m tests.bootstrap bot.cli talking-head ...
"""

import ipaddress
import os
import runpy
import socket
import sys

import fal_client.client

if url := os.environ.get("TEST_FAL_STORAGE_URL"):
    fal_client.client.REST_URL = url
    fal_client.client.CDN_URL = url

# No test may depend on the network: a name other than the machine's own is never looked up, so a test that
# lets the bot fetch a link to cdn.example.com fails at once ("does not resolve") instead of asking a DNS server.
_lookup = socket.getaddrinfo


def _local_only(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    name = host.decode() if isinstance(host, bytes) else host
    try:
        ipaddress.ip_address(name or "")
    except ValueError:
        if name not in (None, "localhost"):
            raise socket.gaierror(socket.EAI_NONAME, f"no DNS in the tests: {name}") from None
    return _lookup(host, *args, **kwargs)


socket.getaddrinfo = _local_only

module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
