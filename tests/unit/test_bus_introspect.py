"""Introspection XML is byte-identical to what the stock certmonger 0.79.17 sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycertmonger.bus.interfaces import EXTENSION_IFACE
from pycertmonger.bus.introspect import render, render_interface
from pycertmonger.bus.registry import NodeKind, ObjectRegistry, interfaces_of
from pycertmonger.model import CA, Request

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stock" / "introspect"


def stock(name: str) -> str:
    return (FIXTURES / f"{name}.xml").read_text()


def tree(n_cas: int = 4, n_requests: int = 3) -> ObjectRegistry:
    """A registry numbered like the fixtures' daemon: CA1..CA4, Request1..Request3."""
    registry = ObjectRegistry()
    for _ in range(n_cas):
        registry.ca_path(CA())
    for _ in range(n_requests):
        registry.request_path(Request())
    return registry


def introspect(registry: ObjectRegistry, path: str, *, extensions: bool = False) -> str:
    kind = registry.classify(path)
    return render(path, interfaces_of(kind, extensions=extensions),
                  registry.children(path, kind))


@pytest.mark.parametrize(("fixture", "path"), [
    ("root", "/"),
    ("org", "/org"),
    ("org_fedorahosted", "/org/fedorahosted"),
    ("manager", "/org/fedorahosted/certmonger"),
    ("cas", "/org/fedorahosted/certmonger/cas"),
    ("requests", "/org/fedorahosted/certmonger/requests"),
    ("ca", "/org/fedorahosted/certmonger/cas/CA1"),
    ("request", "/org/fedorahosted/certmonger/requests/Request1"),
])
def test_node_xml_matches_the_stock_daemon(fixture: str, path: str) -> None:
    assert introspect(tree(), path) == stock(fixture)


def test_manager_xml_with_extensions_only_adds_the_extension_interface() -> None:
    xml = introspect(tree(), "/org/fedorahosted/certmonger", extensions=True)
    extension = render_interface(EXTENSION_IFACE)
    assert xml.replace("\n" + extension, "") == stock("manager")
    assert xml.index(extension) > xml.index('<interface name="org.fedorahosted.certmonger">')
    assert xml.index(extension) < xml.index('<node name="requests"/>')


def test_child_lists_follow_the_objects_that_exist() -> None:
    registry = tree(n_cas=1, n_requests=0)
    gone = Request()
    registry.request_path(gone)
    registry.request_path(Request())
    registry.requests.forget(gone)
    xml = introspect(registry, "/org/fedorahosted/certmonger/requests")
    assert '<node name="Request1"/>' not in xml
    assert xml.endswith(' </interface>\n <node name="Request2"/>\n</node>')


def test_an_empty_group_lists_no_children() -> None:
    xml = introspect(tree(n_requests=0), "/org/fedorahosted/certmonger/requests")
    assert xml.endswith(" </interface>\n</node>")


def test_numbers_are_never_reused() -> None:
    registry = ObjectRegistry()
    first = Request()
    assert registry.request_path(first).endswith("/Request1")
    registry.requests.forget(first)
    assert registry.request_path(Request()).endswith("/Request2")


def test_paths_that_hold_nothing_are_not_ours() -> None:
    registry = tree()
    for path in ("/org/freedesktop", "/org/fedorahosted/certmonger/requests/Request99",
                 "/org/fedorahosted/certmonger/cas/CA1/x", "/org/fed"):
        assert registry.classify(path) is NodeKind.NONE, path
