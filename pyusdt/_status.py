"""pyusdt.Status, the typed form of status(): in a module of its own,
created on first use, so that importing pyusdt does not build the class
(about 0.2 M instructions, 0.5% of a bare python's start)."""


class Status:
    """What pyusdt is doing at one moment (read-only)."""

    # N.B. its public name: pyusdt.Status (the package makes it on first use).
    __module__ = "pyusdt"

    __slots__ = ("attached", "enabled", "tool_id", "check_msec", "forced",
                 "gc_callback", "unavailable", "audit_hook", "native")

    #: Probes a tracer is attached to (their semaphores are non-zero).
    attached: "tuple[str, ...]"
    #: Probes whose sys.monitoring events are enabled.
    enabled: "tuple[str, ...]"
    #: The sys.monitoring tool id pyusdt holds, or None.
    tool_id: "int | None"
    #: The poll interval, in milliseconds.
    check_msec: int
    #: Probes attached by PYUSDT_FORCE (a testing switch), not by a tracer.
    forced: "tuple[str, ...]"
    #: Whether the GC probes' gc.callbacks entry is installed.
    gc_callback: bool
    #: Probes whose sys.monitoring event the running Python lacks: they
    #: never fire, and attaching to one says so on stderr.
    unavailable: "tuple[str, ...]"
    #: Whether the audit probes' hook is installed (once in, for good: PEP
    #: 578 hooks cannot be removed).
    audit_hook: bool
    #: The python-provider probes the interpreter fires itself (a build
    #: configured --with-dtrace): pyusdt leaves them unfed, so that no
    #: event is reported twice.  None until a python probe is first
    #: attached (the interpreter is looked at then, not at import).
    native: "tuple[str, ...] | None"

    def __init__(self, attached: "tuple[str, ...]", enabled: "tuple[str, ...]",
                 tool_id: "int | None", check_msec: int,
                 forced: "tuple[str, ...]" = (), gc_callback: bool = False,
                 unavailable: "tuple[str, ...]" = (), audit_hook: bool = False,
                 native: "tuple[str, ...] | None" = None) -> None:
        for name, value in zip(self.__slots__, (attached, enabled, tool_id, check_msec,
                                                forced, gc_callback, unavailable,
                                                audit_hook, native)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Status is read-only")

    def _fields(self) -> "tuple[object, ...]":
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "Status(%s)" % ", ".join("%s=%r" % (name, getattr(self, name))
                                        for name in self.__slots__)
