"""Helpers shared by several test areas (tests/ is on sys.path: `from support.x import y`).

One place for what many areas did alike: starting a sandbox as a separate process and
stopping it with Ctrl-C, test CPFs, the CLI's isolated environment, polling for an event.
"""
