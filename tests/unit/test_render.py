"""Values and callables are rendered as README says, without running any of
the program's code."""

from __future__ import annotations

import collections
import sys
import time
import unittest

import pyusdt
from tests import recorder, support

render_value = pyusdt._lib._render_value
render_callable = pyusdt._lib._render_callable
render_args = pyusdt._lib._render_args


class Hostile:
    """Every hook a renderer might be tempted to call raises."""

    calls = 0

    def __repr__(self):
        Hostile.calls += 1
        raise RuntimeError("__repr__ called")

    __str__ = __repr__

    def __getattribute__(self, name):
        Hostile.calls += 1
        raise RuntimeError("attribute %s looked up" % name)


class StrSubclass(str):
    def __repr__(self):
        raise RuntimeError("__repr__ called")


class Outer:
    class Inner:
        def method(self):
            pass


class RenderValue(support.NoToolLeftBehind):
    def test_exact_builtins_render_as_repr(self):
        for value in (None, True, False, 0, -1, 2**63 - 1, -2**63, 1.5, float("inf"),
                      float("nan"), -0.0, 1e300, "", "text", "it's", 'say "hi"',
                      b"", b"\x00\xff", "\u00e9\u4e2d", "\udc80"):
            self.assertEqual(render_value(value), repr(value))

    def test_big_ints_render_as_repr_up_to_4096_bits(self):
        self.assertEqual(render_value(2**70), str(2**70))
        self.assertEqual(render_value(-(2**100)), str(-(2**100)))
        self.assertEqual(render_value(2**5000), "<int of 5001 bits>")

    def test_long_values_are_cut_at_127_bytes_with_ellipsis(self):
        self.assertEqual(render_value("a" * 500), "'" + "a" * 126 + "...")
        self.assertEqual(render_value(b"b" * 500), "b'" + "b" * 125 + "...")
        self.assertEqual(render_value("a" * 126), "'" + "a" * 126 + "...")
        self.assertEqual(render_value("a" * 125), repr("a" * 125))

    def test_cut_never_splits_a_utf8_character(self):
        text = render_value("\u4e2d" * 200)
        self.assertTrue(text.endswith("..."))
        self.assertLessEqual(len(text.encode("utf-8")), 130)
        self.assertEqual(text, "'" + "\u4e2d" * 42 + "...")

    def test_other_objects_render_as_type_name_without_calling_them(self):
        Hostile.calls = 0
        self.assertEqual(render_value(Hostile()), "<Hostile object>")
        self.assertEqual(Hostile.calls, 0)
        self.assertEqual(render_value(StrSubclass("x")), "<StrSubclass object>")
        self.assertEqual(render_value([1, 2]), "<list object>")
        self.assertEqual(render_value(collections.OrderedDict()),
                         "<collections.OrderedDict object>")
        self.assertEqual(render_value(True.__class__.__mro__), "<tuple object>")

    def test_rendering_agrees_with_the_test_recorder(self):
        for value in (None, 3, 2**80, 2.5, "x" * 200, b"y" * 200, "\u00e9" * 90,
                      Hostile(), Outer.Inner(), object(), 3j, sys):
            self.assertEqual(render_value(value), recorder.render_value(value), value)

    def test_pending_exception_survives_rendering(self):
        try:
            raise KeyError("pending")
        except KeyError:
            render_value("x" * 1000)
            render_value(2**100)
            self.assertEqual(sys.exc_info()[0], KeyError)


def module_function():
    pass


class RenderAuditArgs(support.NoToolLeftBehind):
    """An audit event's arguments (the AUDIT probe's args)."""

    def test_arguments_read_as_the_tuples_repr(self):
        self.assertEqual(render_args(("/etc/hosts", "r", 524288)), "('/etc/hosts', 'r', 524288)")
        self.assertEqual(render_args(()), "()")
        self.assertEqual(render_args((None,)), "(None,)")

    def test_nested_tuples_render_two_levels_down(self):
        self.assertEqual(render_args((1, ("127.0.0.1", 8080))), "(1, ('127.0.0.1', 8080))")
        self.assertEqual(render_args(((((1,),),),)), "(((<tuple object>,),),)")

    def test_hostile_items_render_as_type_name_without_calling_them(self):
        Hostile.calls = 0
        self.assertEqual(render_args((Hostile(), StrSubclass("x"), [Hostile()])),
                         "(<Hostile object>, <StrSubclass object>, <list object>)")
        self.assertEqual(Hostile.calls, 0)

    def test_long_arguments_are_cut_at_127_bytes_with_ellipsis(self):
        text = render_args(tuple(range(100)))
        self.assertEqual(len(text.encode()), 130)
        self.assertTrue(text.startswith("(0, 1, 2, ") and text.endswith("..."), text)

    def test_anything_but_a_tuple_renders_as_one_value(self):
        self.assertEqual(render_args("x"), "'x'")
        self.assertEqual(render_args(Hostile()), "<Hostile object>")


class RenderCallable(support.NoToolLeftBehind):
    def test_functions_render_as_qualified_name(self):
        self.assertEqual(render_callable(module_function), "module_function")
        self.assertEqual(render_callable(Outer.Inner.method), "Outer.Inner.method")
        self.assertEqual(render_callable(Outer.Inner().method), "Outer.Inner.method")
        self.assertEqual(render_callable(lambda: 0),
                         "RenderCallable.test_functions_render_as_qualified_name"
                         ".<locals>.<lambda>")

    def test_builtins_render_with_their_module_or_owner(self):
        self.assertEqual(render_callable(len), "len")
        self.assertEqual(render_callable(time.sleep), "time.sleep")
        self.assertEqual(render_callable([].append), "list.append")
        self.assertEqual(render_callable(list.append), "list.append")
        self.assertEqual(render_callable(dict.fromkeys), "dict.fromkeys")

    def test_types_render_as_their_name(self):
        self.assertEqual(render_callable(list), "list")
        self.assertEqual(render_callable(Outer.Inner), "Outer.Inner")

    def test_other_callables_render_as_type_name_without_calling_them(self):
        Hostile.calls = 0
        self.assertEqual(render_callable(Hostile()), "<Hostile object>")
        self.assertEqual(Hostile.calls, 0)

    def test_rendering_agrees_with_the_test_recorder(self):
        for func in (module_function, len, time.sleep, [].append, list.append, list,
                     Outer.Inner, Outer.Inner().method, dict.fromkeys, object(), print,
                     str.join, sys.monitoring.get_tool):
            self.assertEqual(render_callable(func), recorder.render_callable(func), func)


if __name__ == "__main__":
    unittest.main()
