"""Why an Artemis start failed, from its log; the create command line (no Java needed)."""

from __future__ import annotations

from pathlib import Path

from harness.brokers import artemis_instance

#: Artemis 2.56.0 with the AMQP port already taken (lines as logged, shortened)
PORT_TAKEN = """\
 Apache Artemis 2.56.0

2026-12-05 09:05:44,069 INFO  [org.apache.activemq.artemis.core.server] AMQ221034: Waiting indefinitely to obtain primary lock
2026-12-05 09:05:48,123 ERROR [org.apache.activemq.artemis.core.server] AMQ224104: Error starting the Acceptor amqp {scheme=tcp, port=45672, host=127.0.0.1}
2026-12-05 09:05:48,124 ERROR [org.apache.activemq.artemis.core.server] AMQ224000: Failure in initialisation
java.lang.IllegalStateException: AMQ229230: Failed to bind acceptor amqp to 127.0.0.1:45672
\tat org.apache.activemq.artemis.core.remoting.impl.netty.NettyAcceptor.startServerChannels(NettyAcceptor.java:802)
"""

#: Artemis 2.56.0 with an element broker.xml's schema does not know
INVALID_XML = """\
2026-12-05 09:10:22,175 ERROR [org.apache.activemq.artemis.core.client] AMQ214019: Invalid configuration
org.xml.sax.SAXParseException; cvc-complex-type.2.4.a: Invalid content was found starting with element 'no-such-element'.
\tat java.xml/com.sun.org.apache.xerces.internal.util.ErrorHandlerWrapper.createSAXParseException(ErrorHandlerWrapper.java:204)
java.lang.IllegalStateException: Invalid configuration
Caused by: org.xml.sax.SAXParseException; cvc-complex-type.2.4.a: Invalid content was found starting with element 'no-such-element'.
"""


def test_port_taken_names_the_specific_code() -> None:
    assert (
        artemis_instance.startup_failure(PORT_TAKEN)
        == "AMQ229230: Failed to bind acceptor amqp to 127.0.0.1:45672"
    )


def test_invalid_configuration_carries_its_cause() -> None:
    why = artemis_instance.startup_failure(INVALID_XML)
    assert why.startswith("AMQ214019: Invalid configuration (")
    assert "no-such-element" in why
    assert len(why) <= 240


def test_without_amq_codes_the_java_error_or_last_line() -> None:
    jvm = "Error occurred during initialization of VM\nInitial heap size set to a larger value than the maximum heap size\n"
    assert artemis_instance.startup_failure(jvm) == (
        "Initial heap size set to a larger value than the maximum heap size"
    )
    assert artemis_instance.startup_failure("") == "no output"
    warn = "2026-12-05 09:05:48,123 WARN  [x] AMQ222000: something\n2026-12-05 09:05:49,000 ERROR [x] plain error\n"
    assert artemis_instance.startup_failure(warn) == "plain error"


def test_create_command_line_is_headless_and_leaves_out_colliding_parts() -> None:
    argv = artemis_instance.create_argv(Path("/opt/a"), Path("/w/i"))
    assert argv[:3] == ["/opt/a/bin/artemis", "create", "/w/i"]
    for option in ("--silent", "--allow-anonymous", "--no-web", "--no-fsync", "--no-autotune"):
        assert option in argv
    assert argv[argv.index("--java-memory") + 1] == artemis_instance.JAVA_MEMORY
    assert "--no-amqp-acceptor" not in argv
