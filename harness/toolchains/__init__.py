"""Build and discovery modules for the compiled or packaged reference peers.

Each module (``cpp``, ``js``, ``java``, ``jms`` ...) exposes ``NAME``, ``CAPABILITIES``,
``unavailable()``, ``build(cache_dir)`` and ``version()``; the peer registry
(harness/peers.py) imports them by name so that a missing toolchain is a
one-line reason rather than an import error.
"""
