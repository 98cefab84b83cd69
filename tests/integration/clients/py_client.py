#!/usr/bin/python3
"""py_client.py - replays a request spec (see akclient.py) with a Debian Python HTTP library.

One file for the five CPython clients because they differ only in the few lines that make a
call: urllib (new connection per call), requests (Session), httpx (Client), httpx async
(AsyncClient) and aiohttp (ClientSession). Each streams the body it receives to stdout as it
arrives and writes "status: N" (or "error: ...") per call to stderr. Exit 0 when every call
completed, 3 when one failed.
Usage: py_client.py urllib|requests|httpx|httpx-async|aiohttp SPEC.json
"""
import asyncio
import json
import sys

FAILED = 3
READ_SIZE = 65536


def out(data):
    if data:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def status(code):
    sys.stderr.write("status: %d\n" % code)
    sys.stderr.flush()


def error(e):
    sys.stderr.write("error: %s: %s\n" % (type(e).__name__, e))
    sys.stderr.flush()


def body_of(call):
    return call["body"].encode() if call["body"] else None


def each_call(spec, do_call):
    """Runs do_call(call) for every call; a failed call is reported and the rest still run."""
    rc = 0
    for call in spec["calls"]:
        try:
            do_call(call)
        except Exception as e:  # noqa: BLE001 - the driver compares whatever happened
            error(e)
            rc = FAILED
    return rc


async def each_call_async(spec, do_call):
    rc = 0
    for call in spec["calls"]:
        try:
            await do_call(call)
        except Exception as e:  # noqa: BLE001
            error(e)
            rc = FAILED
    return rc


def run_urllib(spec, timeout):
    import urllib.error
    import urllib.request

    def do_call(call):
        req = urllib.request.Request(call["url"], data=body_of(call), method=call["method"],
                                     headers=dict(call["headers"]))
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            resp = e
        with resp:
            for chunk in iter(lambda: resp.read1(READ_SIZE), b""):
                out(chunk)
            status(resp.status)
    return each_call(spec, do_call)


def run_requests(spec, timeout):
    import requests
    with requests.Session() as s:
        def do_call(call):
            with s.request(call["method"], call["url"], data=body_of(call),
                           headers=dict(call["headers"]), stream=True, timeout=timeout) as r:
                for chunk in r.iter_content(chunk_size=None):
                    out(chunk)
                status(r.status_code)
        return each_call(spec, do_call)


def run_httpx(spec, timeout):
    import httpx
    with httpx.Client(timeout=timeout) as c:
        def do_call(call):
            with c.stream(call["method"], call["url"], content=body_of(call),
                          headers=dict(call["headers"])) as r:
                for chunk in r.iter_bytes():
                    out(chunk)
                status(r.status_code)
        return each_call(spec, do_call)


async def run_httpx_async(spec, timeout):
    import httpx
    async with httpx.AsyncClient(timeout=timeout) as c:
        async def do_call(call):
            async with c.stream(call["method"], call["url"], content=body_of(call),
                                headers=dict(call["headers"])) as r:
                async for chunk in r.aiter_bytes():
                    out(chunk)
                status(r.status_code)
        return await each_call_async(spec, do_call)


async def run_aiohttp(spec, timeout):
    import aiohttp
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
        async def do_call(call):
            async with s.request(call["method"], call["url"], data=body_of(call),
                                 headers=dict(call["headers"])) as r:
                async for chunk in r.content.iter_any():
                    out(chunk)
                status(r.status)
        return await each_call_async(spec, do_call)


LIBS = {"urllib": run_urllib, "requests": run_requests, "httpx": run_httpx,
        "httpx-async": run_httpx_async, "aiohttp": run_aiohttp}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in LIBS:
        sys.stderr.write("usage: py_client.py %s SPEC.json\n" % "|".join(LIBS))
        return 2
    with open(sys.argv[2]) as f:
        spec = json.load(f)
    timeout = spec.get("options", {}).get("timeout", 20)
    fn = LIBS[sys.argv[1]]
    if asyncio.iscoroutinefunction(fn):
        return asyncio.run(fn(spec, timeout))
    return fn(spec, timeout)


if __name__ == "__main__":
    sys.exit(main())
