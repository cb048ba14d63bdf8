"""WeChat Official Account (公众号): adapter, callback signature, event push, stand-in."""
