import json

import pytest

from harness.matrix.known import (
    KnownFailure,
    KnownFailures,
    apply,
    load_registry,
    parse_registry,
    version_matches,
)
from harness.matrix.results import CellResult
from tests.matrix.sample import cell

RABBIT_310 = {"product": "RabbitMQ", "version": "3.10.8"}
RABBIT_4 = {"product": "RabbitMQ", "version": "4.0.2"}
EMBEDDED = {"product": "amqp-interop embedded broker", "version": "0.1.0"}


class Identity:
    """Like harness.brokers.base.BrokerIdentity: attributes, not a dict."""

    def __init__(self, product, version):
        self.product = product
        self.version = version


def entry(**kw):
    d = {"id": "e1", "verdict": "xfail", "reason": "known bad"}
    d.update(kw)
    return KnownFailure.from_json(d, "test.json")


@pytest.mark.parametrize(
    "pattern, version, expected",
    [
        ("*", "", True),
        ("*", "anything", True),
        ("3.*", "3.10.8", True),
        ("3.*", "4.0.0", False),
        ("3.10.*", "3.10.8", True),
        ("3.10.*", "3.1.0", False),
        (">=3.8,<4", "3.10.8", True),
        (">=3.8,<4", "3.8", True),
        (">=3.8,<4", "3.7.28", False),
        (">=3.8,<4", "4.0.0", False),
        (">=3.8, <4", "3.13.0-rc.1", True),
        ("<3.10", "3.9.29", True),
        ("<3.10", "3.10.0", False),
        ("==3.10", "3.10.0", True),
        ("!=3.10.8", "3.10.8", False),
        (">2", "v3", True),
        (">=1", "", False),
        (">=1", "unknown", False),
    ],
)
def test_version_patterns(pattern, version, expected):
    assert version_matches(pattern, version) is expected


RABBIT_40 = {"product": "RabbitMQ", "version": "4.0.5"}
RABBIT_41 = {"product": "RabbitMQ", "version": "4.1.0"}
RABBIT_43 = {"product": "RabbitMQ", "version": "4.3.6"}


def test_packaged_lacks_entry_says_rabbitmq_before_41_has_no_dynamic_sources():
    reg = load_registry()
    c = cell("request-response", ("python", "js"), "rabbitmq")
    for identity in (RABBIT_310, RABBIT_40, Identity("rabbitmq", "3.12.1")):
        e = reg.lacking({"dynamic"}, c, identity)
        assert e is not None and e.id == "rabbitmq-dynamic-source-refused", identity
    e = reg.get("rabbitmq-dynamic-source-refused")
    assert e.verdict == "unsupported" and e.broker_version == "<4.1"
    assert "amqp:not-implemented" in e.reason and "Dynamic sources not supported" in e.reason
    assert "rabbitmq-server#13231" in e.reference  # the change that brought them, in 4.1


def test_a_range_outside_the_brokers_version_does_not_apply():
    """4.1 is past the 3.x and 4.0 ranges: its cells run and are judged as they come."""
    reg = load_registry()
    c = cell("request-response", ("python", "js"), "url:amqp://127.0.0.1:5672")
    assert reg.lacking({"dynamic"}, c, RABBIT_41) is None
    hello = cell("hello-world", ("python",), "container:rabbitmq-4.0")
    assert apply("fail", "x", hello, RABBIT_41, {}, reg, rules=["credit"]) == ("fail", "x", None)
    v, _, eid = apply("fail", "x", hello, RABBIT_40, {}, reg, rules=["close-last"])
    assert (v, eid) == ("xfail", "rabbitmq-frames-after-close")
    # frames after the close: seen on 4.3.6 too, so that range stays open
    v, _, eid = apply("fail", "x", hello, RABBIT_43, {}, reg, rules=["close-last"])
    assert (v, eid) == ("xfail", "rabbitmq-frames-after-close")
    # credit overruns were a 3.x plugin bug: on 4.0 a credit failure is a real one
    assert apply("fail", "x", hello, RABBIT_40, {}, reg, rules=["credit"])[0] == "fail"
    assert apply("fail", "x", hello, RABBIT_310, {}, reg, rules=["credit"])[0] == "xfail"
    # below the measured range too
    assert (
        apply("fail", "x", hello, Identity("RabbitMQ", "3.9.29"), {}, reg, rules=["close-last"])[0]
        == "fail"
    )


def test_a_lacks_entry_never_judges_a_cell_that_ran():
    """It decides before a cell runs; a cell that ran anyway keeps its own verdict."""
    reg = load_registry()
    c = cell("request-response", ("python", "python"), "rabbitmq")
    assert apply("fail", "boom", c, RABBIT_310, {}, reg) == ("fail", "boom", None)
    assert apply("pass", "", c, RABBIT_310, {}, reg) == ("pass", "", None)
    assert reg.find(c, RABBIT_310) is None


def test_lacks_needs_a_known_capability_and_verdict_unsupported():
    lacking = entry(lacks="dynamic", verdict="unsupported", broker_product="Mine")
    assert lacking.to_json()["lacks"] == "dynamic"
    assert KnownFailure.from_json(lacking.to_json()).lacks == "dynamic"
    reg = KnownFailures([lacking])
    assert reg.lacking({"restart"}, cell(), {"product": "Mine", "version": "1"}) is None
    assert reg.lacking({"dynamic"}, cell(), {"product": "Mine", "version": "1"}) is lacking
    assert reg.lacking({"dynamic"}, cell(), {"product": "Other", "version": "1"}) is None
    with pytest.raises(ValueError, match="'lacks' must be one of"):
        entry(lacks="teleport", verdict="unsupported")
    with pytest.raises(ValueError, match="verdict 'unsupported'"):
        entry(lacks="dynamic", verdict="xfail")


def test_packaged_entries_carry_ranges_and_references():
    for e in load_registry():
        if e.broker_product.lower() == "rabbitmq":
            assert e.broker_version[:1] in "<>", f"{e.id}: a range, not {e.broker_version!r}"
        assert e.reference, e.id


def test_pass_on_known_failure_is_xpass():
    mine = entry(broker_product="RabbitMQ", broker_version=">=4.0,<4.1")
    c = cell("request-response", ("python", "python"), "container:rabbitmq-4.0")
    verdict, reason, entry_id = apply("pass", "", c, RABBIT_40, {}, [mine])
    assert (verdict, entry_id) == ("xpass", "e1")
    assert "no longer happens" in reason
    # outside the range a pass is a pass: no stale entry to report
    assert apply("pass", "", c, RABBIT_41, {}, [mine]) == ("pass", "", None)


def test_no_entry_leaves_verdict_alone():
    reg = load_registry()
    c = cell("request-response", ("python", "python"), "embedded")
    assert apply("fail", "boom", c, EMBEDDED, {}, reg) == ("fail", "boom", None)
    assert apply("pass", "", c, EMBEDDED, {}, reg) == ("pass", "", None)


def test_other_raw_verdicts_pass_through():
    reg = load_registry()
    c = cell("request-response", ("python", "python"), "rabbitmq")
    assert apply("skipped", "no docker", c, RABBIT_310, {}, reg) == ("skipped", "no docker", None)


def test_fault_and_scenario_patterns():
    e = entry(scenario="at-least-*", fault="cut*")
    assert e.matches(cell("at-least-once", fault="cut3"), EMBEDDED)
    assert not e.matches(cell("at-least-once"), EMBEDDED)
    assert not e.matches(cell("hello-world", ("js",), fault="cut3"), EMBEDDED)


def test_product_pattern():
    e = entry(broker_product="Apache*Artemis*")
    assert e.matches(cell(), {"product": "apache-activemq-artemis", "version": "2.31"})
    assert not e.matches(cell(), RABBIT_310)


def test_peer_roles_and_versions():
    e = entry(peers={"sender": "js"}, peer_versions={"sender": "<3.1"})
    c = cell("at-least-once", ("js", "python"))
    assert e.matches(c, EMBEDDED, {"js": "3.0.3"})
    assert not e.matches(c, EMBEDDED, {"js": "3.1.0"})
    assert not e.matches(c, EMBEDDED, {})  # unknown version never fits a range
    assert not e.matches(cell("at-least-once", ("python", "js")), EMBEDDED, {"js": "3.0.3"})
    # a role the scenario does not have
    assert not e.matches(cell("hello-world", ("js",)), EMBEDDED, {"js": "3.0.3"})


def test_any_role():
    e = entry(peers={"*": "cpp"})
    assert e.matches(cell("at-least-once", ("python", "cpp")), EMBEDDED)
    assert e.matches(cell("hello-world", ("cpp",)), EMBEDDED)
    assert not e.matches(cell("at-least-once", ("python", "js")), EMBEDDED)


def test_first_match_wins_and_extra_files_come_first(tmp_path):
    extra = tmp_path / "mine.json"
    extra.write_text(
        json.dumps(
            {
                "entries": [
                    {
                        "id": "mine",
                        "scenario": "request-response",
                        "broker_product": "RabbitMQ",
                        "broker_version": "3.10.*",
                        "verdict": "xfail",
                        "reason": "my own note",
                    }
                ]
            }
        )
    )
    reg = load_registry([extra])
    assert len(reg) == 1 + len(load_registry())
    c = cell("request-response", ("js", "js"), "rabbitmq")
    v, reason, eid = apply("fail", "", c, RABBIT_310, {}, reg, rules=["close-last"])
    assert (v, eid) == ("xfail", "mine")
    assert reason == "my own note [known: mine]"
    hello = cell("hello-world", ("js",), "rabbitmq")
    old = {"product": "RabbitMQ", "version": "3.10.1"}
    assert apply("fail", "", hello, old, {}, reg, rules=["close-last"])[2] == (
        "rabbitmq-frames-after-close"
    )


def test_apply_accepts_plain_list():
    c = cell()
    assert apply("fail", "x", c, EMBEDDED, None, [entry()])[0] == "xfail"


def test_duplicate_ids_across_files(tmp_path):
    extra = tmp_path / "dup.json"
    extra.write_text(
        json.dumps([{"id": "rabbitmq-dynamic-source-refused", "verdict": "xfail", "reason": "r"}])
    )
    with pytest.raises(ValueError) as e:
        load_registry([extra])
    assert "(rabbitmq-dynamic-source-refused): id already used" in str(e.value)
    assert "dup.json" in str(e.value) and "known_failures.json" in str(e.value)


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            {"id": "a", "verdict": "fail", "reason": "r"},
            "'verdict' must be 'xfail' or 'unsupported'",
        ),
        ({"id": "a", "verdict": "xfail"}, "missing or empty 'reason'"),
        ({"verdict": "xfail", "reason": "r"}, "entry 0: missing or empty 'id'"),
        ({"id": "a", "verdict": "xfail", "reason": "r", "brokr": "x"}, "unknown key 'brokr'"),
        (
            {"id": "a", "verdict": "xfail", "reason": "r", "broker_version": ">=x"},
            "(a): bad version clause '>=x'",
        ),
        (
            {"id": "a", "verdict": "xfail", "reason": "r", "broker_version": ">=3,4"},
            "bad version clause '4'",
        ),
        ({"id": "a", "verdict": "xfail", "reason": "r", "peers": ["js"]}, "'peers' must map"),
        ({"id": "a", "verdict": "xfail", "reason": "r", "scenario": ""}, "'scenario' must be"),
        ("text", "entry 0: not an object"),
    ],
)
def test_bad_entries(tmp_path, bad, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"entries": [bad]}))
    with pytest.raises(ValueError) as e:
        load_registry([path])
    assert str(e.value).startswith(str(path))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "text, message",
    [("{", "not JSON"), ("{}", "missing 'entries'"), ('{"entries": 3}', "must be a list")],
)
def test_bad_registry_files(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_registry([path], packaged=False)


def test_missing_registry_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_registry([tmp_path / "none.json"])


def test_entry_round_trip():
    e = entry(peers={"sender": "js"}, broker_version=">=3.8,<4", reference="doc")
    assert parse_registry([e.to_json()], "x")[0] == KnownFailure.from_json(e.to_json(), "x")
    assert KnownFailures([e]).get("e1") is not None


def test_cell_with_default_fault_matches_star():
    c = CellResult.from_json({"id": "x", "scenario": "hello-world", "verdict": "fail"})
    assert entry().matches(c, EMBEDDED)


def test_rule_scoped_entry_covers_only_its_rules():
    """A broker's known protocol slip must not hide an unrelated failure, nor flag a pass."""
    reg = load_registry()
    c = cell("at-least-once", ("python", "python"), "rabbitmq")
    v, _, eid = apply("fail", "x", c, RABBIT_310, {}, reg, rules=["credit"])
    assert (v, eid) == ("xfail", "rabbitmq3-transfer-beyond-credit")
    v, _, eid = apply("fail", "x", c, RABBIT_310, {}, reg, rules=["close-last"])
    assert (v, eid) == ("xfail", "rabbitmq-frames-after-close")
    v, _, eid = apply("fail", "x", c, RABBIT_310, {}, reg, rules=["credit", "nothing-lost"])
    assert (v, eid) == ("fail", None)
    assert apply("pass", "", c, RABBIT_310, {}, reg, rules=[])[0] == "pass"
    assert (
        apply(
            "fail", "x", c, {"product": "RabbitMQ", "version": "4.0.5"}, {}, reg, rules=["credit"]
        )[0]
        == "fail"
    )


def test_observed_entry_needs_its_message():
    """An entry keyed by an error text covers only cells that failed with that text."""
    reg = load_registry()
    c = cell("at-least-once", ("cpp", "js"), "container:rabbitmq-3.10")
    c.fault = "restart"
    msg = ["receiver (js) failed: protocol error: Invalid protocol header for AMQP: 0000005b"]
    v, _, eid = apply("fail", "x", c, RABBIT_310, {}, reg, rules=["peer-outcome"], messages=msg)
    assert (v, eid) == ("xfail", "rhea-reconnect-sasl-desync")
    v, _, eid = apply(
        "fail",
        "x",
        c,
        RABBIT_310,
        {},
        reg,
        rules=["peer-outcome"],
        messages=["receiver (js) timed out"],
    )
    assert (v, eid) == ("fail", None)
    assert apply("pass", "", c, RABBIT_310, {}, reg)[0] == "pass"


def test_pyamqp_on_rabbitmq_40_drops_an_attach_it_already_has():
    reg = load_registry()
    c = cell("at-least-once", ("go", "pyamqp"), "container:rabbitmq-4.0")
    msg = [
        "receiver (pyamqp) failed: the library dropped link receive-/queues/q: the remote's attach "
        "answer has no source or no target, which azure-servicebus _pyamqp treats as a refusal"
    ]
    v, _, eid = apply("fail", "x", c, RABBIT_40, {}, reg, rules=["peer-start"], messages=msg)
    assert (v, eid) == ("xfail", "pyamqp-attach-without-target")
    # measured on 4.3.6 as well: the range stays open
    v, _, eid = apply("fail", "x", c, RABBIT_43, {}, reg, rules=["peer-start"], messages=msg)
    assert (v, eid) == ("xfail", "pyamqp-attach-without-target")
    other = cell("at-least-once", ("go", "python"), "container:rabbitmq-4.0")
    assert apply("fail", "x", other, RABBIT_40, {}, reg, messages=msg)[0] == "fail"


def test_rabbitmq_43_refuses_only_the_tutorial_pure_dynamic_source():
    """From 4.1 a dynamic source runs; the plain one is unsupported with the broker's refusal."""
    reg = load_registry()
    plain = cell(
        "request-response", ("python", "js"), "container:rabbitmq-4.3", fault="tutorial-pure"
    )
    with_cap = cell("request-response", ("python", "js"), "container:rabbitmq-4.3")
    assert reg.lacking({"dynamic"}, plain, RABBIT_43) is None
    refusal = 'broker refused client\'s attach: amqp:not-implemented "Dynamic source not supported"'
    v, reason, eid = apply("fail", refusal, plain, RABBIT_43, {}, reg, messages=[refusal])
    assert (v, eid) == ("unsupported", "rabbitmq-plain-dynamic-source-refused")
    assert reason.endswith("observed: " + refusal)
    assert "4.2.0" in reg.get(eid).reference and "#14474" in reg.get(eid).reference
    # the cell with the broker's capability is judged as it comes
    assert apply("fail", refusal, with_cap, RABBIT_43, {}, reg, messages=[refusal])[0] == "fail"


def test_broker_profile_entry_matches_the_identitys_profile():
    e = entry(broker_profile={"routing": "multicast"})
    c = cell("at-least-once", ("python", "js"), "url:amqp://127.0.0.1:5672")
    artemis = {"product": "apache-activemq-artemis", "version": "2.56.0"}
    assert e.matches(c, {**artemis, "profile": {"routing": "multicast", "fsync": False}})
    assert not e.matches(c, {**artemis, "profile": {"routing": "anycast"}})
    assert not e.matches(c, artemis)  # no profile known: not this entry's broker
    ident = Identity("apache-activemq-artemis", "2.56.0")
    ident.profile = {"routing": "MULTICAST"}  # a BrokerIdentity's attribute; case is not a value
    assert e.matches(c, ident)
    assert parse_registry([e.to_json()], "x")[0] == KnownFailure.from_json(e.to_json(), "x")
    assert e.to_json()["broker_profile"] == {"routing": "multicast"}


def test_broker_profile_must_map_names_to_strings(tmp_path):
    path = tmp_path / "bad.json"
    bad = {"id": "a", "verdict": "xfail", "reason": "r", "broker_profile": {"routing": 1}}
    path.write_text(json.dumps({"entries": [bad]}))
    with pytest.raises(ValueError, match="'broker_profile' must map"):
        load_registry([path])


def test_rhea_sasl_desync_is_known_on_any_reconnect_not_only_a_restart():
    """Seen in a settle cell on RabbitMQ 4.0 (a cut, no restart): the same rhea protocol error."""
    reg = load_registry()
    c = cell("at-least-once", ("cpp", "js"), "container:rabbitmq-4.0", fault="settle")
    seen = ["receiver (js) failed: protocol error: Invalid protocol header for AMQP: 00000092"]
    v, _, eid = apply("fail", "x", c, RABBIT_40, {}, reg, rules=["peer-outcome"], messages=seen)
    assert (v, eid) == ("xfail", "rhea-reconnect-sasl-desync")
    other = ["receiver (js) failed: timed out"]
    assert (
        apply("fail", "x", c, RABBIT_40, {}, reg, rules=["peer-outcome"], messages=other)[0]
        == "fail"
    )


def test_fe2o3_illegal_state_end_is_known_only_for_the_rust_listening_sender():
    reg = load_registry()
    seen = [
        "sender ended the session: amqp:illegal-state (c1 at 0.108 s); then receiver (js) "
        "failed: session ended with amqp:illegal-state:"
    ]
    rust = cell("direct", ("rust", "js"), "", fault="sender-listens")
    v, _, eid = apply("fail", "x", rust, None, {}, reg, rules=["peer-outcome"], messages=seen)
    assert (v, eid) == ("xfail", "fe2o3-ends-session-with-illegal-state-on-remote-end")
    java = cell("direct", ("java", "js"), "", fault="sender-listens")
    assert (
        apply("fail", "x", java, None, {}, reg, rules=["peer-outcome"], messages=seen)[0] == "fail"
    )
