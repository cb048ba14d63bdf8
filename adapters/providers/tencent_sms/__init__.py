"""Tencent Cloud SMS (API 2021-01-11): adapter, TC3 signing, error codes, callbacks, stand-in."""
