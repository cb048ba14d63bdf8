"""Alibaba Cloud SMS (Dysmsapi): adapter, V3 signing, error codes, callbacks, stand-in."""
