"""broker.xml and artemis.profile edits for an Artemis instance (no Java needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.brokers import artemis_xml

#: the parts of ``artemis create``'s broker.xml (2.56.0) the harness edits or reads
CREATED = """<configuration><core xmlns="urn:activemq:core">
      <journal-type>MAPPED</journal-type>
      <journal-datasync>false</journal-datasync>
      <acceptors>
         <!-- <acceptor name="commented">tcp://0.0.0.0:1</acceptor> -->
         <acceptor name="artemis">tcp://0.0.0.0:61616?protocols=CORE,AMQP,STOMP,HORNETQ,MQTT,OPENWIRE;useEpoll=true</acceptor>

         <!-- AMQP Acceptor.  Listens on default AMQP port for AMQP traffic.-->
         <acceptor name="amqp">tcp://0.0.0.0:5672?tcpSendBufferSize=1048576;protocols=AMQP;useEpoll=true;amqpCredits=1000;amqpLowCredits=300</acceptor>
      </acceptors>
      <address-settings>
         <address-setting match="activemq.management.#">
            <auto-create-queues>true</auto-create-queues>
         </address-setting>
         <address-setting match="#">
            <dead-letter-address>DLQ</dead-letter-address>
            <auto-create-queues>true</auto-create-queues>
            <auto-delete-queues>false</auto-delete-queues>
          </address-setting>
      </address-settings>
</core></configuration>
"""


def test_only_the_amqp_acceptor_stays_on_the_given_port() -> None:
    out = artemis_xml.configure(CREATED, "127.0.0.1", 40123, anycast=False)
    found = artemis_xml.acceptors(out)
    assert list(found) == ["amqp"]
    assert found["amqp"].startswith("tcp://127.0.0.1:40123?")
    assert "amqpCredits=1000;amqpLowCredits=300" in found["amqp"]  # its options are kept
    assert "61616" not in out


def test_anycast_sets_both_routing_types_in_the_match_all_setting_only() -> None:
    out = artemis_xml.configure(CREATED, "127.0.0.1", 1, anycast=True)
    profile = artemis_xml.read_profile(out)
    assert profile["routing"] == "anycast"
    assert out.count("<default-address-routing-type>ANYCAST") == 1
    assert out.count("<default-queue-routing-type>ANYCAST") == 1
    management = out[out.index('match="activemq.management.#"') : out.index('match="#"')]
    assert "routing-type" not in management


def test_configure_twice_is_the_same_as_once() -> None:
    once = artemis_xml.configure(CREATED, "127.0.0.1", 2, anycast=True)
    assert artemis_xml.configure(once, "127.0.0.1", 2, anycast=True) == once


def test_stock_keeps_multicast_and_the_rest_of_the_file() -> None:
    out = artemis_xml.configure(CREATED, "127.0.0.1", 3, anycast=False)
    assert "routing-type" not in out
    assert artemis_xml.read_profile(out)["routing"] == "multicast"
    assert "<!-- AMQP Acceptor." in out  # comments stay: a person can diff it with create's


def test_read_profile_of_create_output_and_artemis_defaults() -> None:
    assert artemis_xml.read_profile(CREATED) == {
        "routing": "multicast",
        "fsync": False,
        "journal": "MAPPED",
        "auto_delete_queues": False,
    }
    # what Artemis assumes when the file says nothing
    assert artemis_xml.read_profile("<configuration/>") == {
        "routing": "multicast",
        "fsync": True,
        "journal": "ASYNCIO",
        "auto_delete_queues": True,
    }


def test_a_file_without_the_amqp_acceptor_is_one_line() -> None:
    text = CREATED.replace('name="amqp"', 'name="other"')
    with pytest.raises(artemis_xml.ConfigError, match='no <acceptor name="amqp">'):
        artemis_xml.configure(text, "127.0.0.1", 1, anycast=False)


def test_jvm_options_heap_and_lean_collector() -> None:
    prof = (
        '# JAVA_ARGS="$JAVA_ARGS -Xms1G"\n'
        'if [ -z "$JAVA_ARGS" ]; then\n'
        '    JAVA_ARGS="-XX:AutoBoxCacheMax=20000 -XX:+UseG1GC -XX:+UseStringDeduplication '
        '-Xms512M -Xmx256M -Dx=y"\nfi\n'
    )
    out = artemis_xml.jvm_options(prof)
    assert out.startswith('# JAVA_ARGS="$JAVA_ARGS -Xms1G"\n')  # comments stay as they are
    assert (
        '    JAVA_ARGS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:AutoBoxCacheMax=20000 '
        '-Xms256M -Xmx256M -Dx=y"\n' in out
    )
    assert artemis_xml.jvm_options(out) == out
    assert artemis_xml.jvm_options("no java args\n") == "no java args\n"


def test_script_edits_an_instance_folder(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "broker.xml").write_text(CREATED)
    (tmp_path / "etc" / "artemis.profile").write_text('JAVA_ARGS="-Xms512M -Xmx256M"\n')
    assert artemis_xml.main([str(tmp_path), "0.0.0.0", "5672", "anycast"]) == 0
    xml = (tmp_path / "etc" / "broker.xml").read_text()
    assert artemis_xml.acceptors(xml) == {"amqp": artemis_xml.acceptors(CREATED)["amqp"]}
    assert artemis_xml.read_profile(xml)["routing"] == "anycast"
    assert "-Xms256M" in (tmp_path / "etc" / "artemis.profile").read_text()


def test_script_usage_and_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert artemis_xml.main(["x"]) == 2
    assert artemis_xml.main([str(tmp_path / "none"), "h", "1", "stock"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("artemis_xml: ") and "broker.xml" in err[-1]
