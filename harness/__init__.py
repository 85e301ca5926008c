"""amqp-interop: an AMQP 1.0 interoperability harness."""
