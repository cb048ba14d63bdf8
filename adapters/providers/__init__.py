"""One folder per provider: adapter, signing, error codes, callbacks, stand-in."""
