"""Introspection XML, laid out exactly as certmonger 0.79.17 lays it out.

certmonger writes its own XML (one space of indent per level, no trailing newline, child
nodes after the interfaces); clients never parse the layout, but keeping it byte-identical
means a diff against the stock daemon shows only real differences.
"""

from __future__ import annotations

from collections.abc import Iterable

from .interfaces import Interface, Method, Property, Signal

DOCTYPE = ('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
           '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n')

# What libdbus answers for a path nobody registered: certmonger leaves those to libdbus.
EMPTY_NODE = DOCTYPE + "<node>\n</node>\n"


def _method(m: Method) -> str:
    lines = [f'  <method name="{m.name}">']
    lines += [f'   <arg name="{a.name}" type="{a.type}" direction="{a.direction}"/>'
              for a in m.args]
    lines.append("  </method>")
    return "\n".join(lines)


def _signal(s: Signal) -> str:
    lines = [f'  <signal name="{s.name}">']
    lines += [f'   <arg name="{a.name}" type="{a.type}"/>' for a in s.args]
    lines.append("  </signal>")
    return "\n".join(lines)


def _property(p: Property) -> str:
    head = f'  <property name="{p.name}" type="{p.type}" access="{p.access}"'
    if not p.annotations:
        return head + "/>"
    lines = [head + ">"]
    lines += [f'   <annotation name="{n}" value="{v}"/>' for n, v in p.annotations]
    lines.append("  </property>")
    return "\n".join(lines)


def render_interface(iface: Interface) -> str:
    """One `<interface>` element, members in declaration order."""
    parts = [f' <interface name="{iface.name}">']
    for member in iface.members:
        if isinstance(member, Method):
            parts.append(_method(member))
        elif isinstance(member, Signal):
            parts.append(_signal(member))
        else:
            parts.append(_property(member))
    parts.append(" </interface>")
    return "\n".join(parts)


def render(path: str, interfaces: Iterable[Interface], children: Iterable[str]) -> str:
    """The Introspect reply for the node at `path`."""
    xml = DOCTYPE + f'\n<node name="{path}">'
    for iface in interfaces:
        xml += "\n" + render_interface(iface)
    for child in children:
        xml += f'\n <node name="{child}"/>'
    return xml + "\n</node>"
