"""Where shipped files and caches are: harness.resources and harness.env.cache_dir.

Every test points the cache (and, where it matters, the peers' folder) at its
own temporary folder: nothing here reads or writes the user's real cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import resources
from harness.env import ROOT, cache_dir, cache_problem


@pytest.fixture
def no_cache_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No INTEROP_CACHE or XDG_CACHE_HOME; HOME is a temporary folder."""
    monkeypatch.delenv("INTEROP_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_cache_defaults_to_the_users_cache_folder(no_cache_env: Path) -> None:
    assert cache_dir() == no_cache_env / ".cache" / "amqp-interop"


def test_cache_follows_xdg_cache_home_and_ignores_a_relative_one(
    no_cache_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "amqp-interop"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid per the XDG spec
    assert cache_dir() == no_cache_env / ".cache" / "amqp-interop"


def test_interop_cache_overrides_everything(
    no_cache_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_cache_problem_is_one_line_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path / "ok"))
    assert cache_problem() is None
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("INTEROP_CACHE", str(blocker / "cache"))  # unwritable even for root
    reason = cache_problem()
    assert reason is not None and "\n" not in reason
    assert str(blocker / "cache") in reason and "INTEROP_CACHE" in reason


def test_in_a_clone_the_shipped_files_are_the_repositorys() -> None:
    assert resources.peers_dir() == ROOT / "peers"
    assert resources.contract().is_file() and resources.defaults_file().is_file()
    assert resources.peer_file("python", "broker.py").is_file()
    assert resources.package_dir() == ROOT / "harness"


def test_scenarios_live_in_the_packages_namespace() -> None:
    import harness.scenarios as scenarios

    assert "hello-world" in scenarios.all_scenarios()


def test_a_missing_python_script_makes_its_peer_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A wheel without peers/python/peer.py: the registry says so instead of "available"."""
    from harness.peers import PeerRegistry

    monkeypatch.setattr(resources, "peers_dir", lambda: tmp_path / "_peers")
    assert resources.python_script("python", "peer.py") == [
        str(tmp_path / "_peers" / "python" / "peer.py")
    ]
    reason = PeerRegistry().get("python").unavailable()
    assert reason is not None and "peer.py" in reason
    assert "reinstall" in resources.missing(tmp_path / "x") and "\n" not in resources.missing(
        tmp_path / "x"
    )


@pytest.fixture
def fake_js(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A peers folder with a js peer that has a clone's node_modules; the cache in tmp."""
    js = tmp_path / "peers" / "js"
    (js / "node_modules" / "rhea").mkdir(parents=True)
    (js / "peer.js").write_text("// peer\n")
    (js / "package-lock.json").write_text("{}\n")
    (js / ".npmrc").write_text("fund=false\n")
    monkeypatch.setattr(resources, "peers_dir", lambda: tmp_path / "peers")
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path / "cache"))
    return js


def test_staged_peer_dir_is_a_copy_in_the_cache_keyed_by_content(
    fake_js: Path, tmp_path: Path
) -> None:
    staged = resources.staged_peer_dir("js")
    assert staged.parent == tmp_path / "cache" / "peers" / "js"
    assert sorted(p.name for p in staged.iterdir()) == [".npmrc", "package-lock.json", "peer.js"]
    assert resources.staged_peer_dir("js") == staged  # unchanged: the same copy
    (fake_js / "peer.js").write_text("// peer, changed\n")
    changed = resources.staged_peer_dir("js")
    assert changed != staged and (changed / "peer.js").read_text() == "// peer, changed\n"
    assert not [p for p in changed.parent.iterdir() if p.name.startswith(".staging-")]


def test_staged_peer_dir_falls_back_to_the_shipped_folder_without_a_cache(
    fake_js: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("INTEROP_CACHE", str(blocker / "cache"))
    assert resources.staged_peer_dir("js") == fake_js
    assert resources.staged_peer_dir("nope") == tmp_path / "peers" / "nope"


def test_a_build_into_an_unwritable_cache_is_the_peers_one_line_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """pytest and the session see PeerUnavailable (a skip), never a NotADirectoryError."""
    from harness.peers import Implementation, PeerUnavailable

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("INTEROP_CACHE", str(blocker / "cache"))
    impl = Implementation("cpp", toolchain="cpp")
    monkeypatch.setattr(impl, "unavailable", lambda: None)  # whatever this machine has
    with pytest.raises(PeerUnavailable, match="cache folder .* is not writable.*INTEROP_CACHE"):
        impl.argv()
