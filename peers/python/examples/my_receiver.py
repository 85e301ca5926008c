"""An example of a user's own handler, run through the harness by peers/python/recorder.py.

It is the tutorial's simple_recv with one addition a real application would have: it
remembers message ids and ignores duplicates (at-least-once delivery can repeat one).

    python peers/python/recorder.py peers/python/examples/my_receiver.py:MyReceiver \\
        receive --url amqp://127.0.0.1:5672 --address examples --count 10

The recorder constructs it with the contract options and reports every callback; the
handler itself knows nothing about the harness.
"""

from __future__ import annotations

import argparse
from typing import Any

from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce


class MyReceiver(MessagingHandler):
    """Receive ``options.count`` distinct messages from ``options.address``, then close."""

    def __init__(self, options: argparse.Namespace) -> None:
        super().__init__()
        self.url = options.url
        self.address = options.address
        self.expected = options.count
        self.ids: set[Any] = set()

    def on_start(self, event: Any) -> None:
        connection = event.container.connect(self.url)
        # at-least-once: ask the broker for unsettled deliveries (AMQP 1.0 2.8.2), so a
        # message is settled only once this handler has accepted it
        event.container.create_receiver(connection, self.address, options=AtLeastOnce())

    def on_message(self, event: Any) -> None:
        if event.message.id in self.ids:
            return  # a redelivery: already processed (auto-accept still settles it)
        self.ids.add(event.message.id)
        if self.expected and len(self.ids) == self.expected:
            event.receiver.close()
            event.connection.close()
