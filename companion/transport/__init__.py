"""The WebSocket transport that eventlet's hub holds (docs/realtime.md, The WebSocket transport).

- `frames`: RFC 6455 frames in and out, with no I/O: wsproto parses what clients send, with this
  app's limits checked as bytes arrive; `encode` makes the server's frames (differentially tested
  against wsproto's own encoder).
- `hub`: a WebSocket held by the hub after its handshake, and the python-engineio socket that
  uses it. Imported only by the server seam (`companion.serve`), after eventlet's monkey patch.
- `versions`: the libraries `hub` replaces parts of, at the versions it was written for.
"""
