"""`domain.records.quick`: a quicker `__init__` for frozen records, and nothing else changed."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import typing
from dataclasses import InitVar, dataclass, field

import pytest

from safetynet.domain.campaigns import StatusTransition
from safetynet.domain.records import quick
from safetynet.domain.replies import ReplyItem, ReplyTarget
from safetynet.domain.vocabulary import CampaignKind, CampaignState, Status


@dataclass(frozen=True, slots=True)
class _Plain:
    a: int
    b: str
    c: float | None = None
    d: tuple[int, ...] = (1, 2)


@quick
@dataclass(frozen=True, slots=True)
class _Quick:
    a: int
    b: str
    c: float | None = None
    d: tuple[int, ...] = (1, 2)


def _as_plain(q: _Quick) -> _Plain:
    return _Plain(*dataclasses.astuple(q))


@pytest.mark.parametrize("args, kwargs", [
    ((1, "x"), {}),
    ((1, "x", 2.5), {}),
    ((1,), {"b": "y", "d": (3,)}),
    ((), {"d": (), "c": None, "b": "", "a": 0}),
])
def test_the_same_values_as_the_dataclass_made(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    q = _Quick(*args, **kwargs)  # type: ignore[arg-type]
    assert _as_plain(q) == _Plain(*args, **kwargs)  # type: ignore[arg-type]
    assert repr(q) == repr(_Plain(*args, **kwargs)).replace("_Plain", "_Quick")  # type: ignore[arg-type]


def test_the_same_signature_and_the_same_refusals() -> None:
    assert str(inspect.signature(_Quick)) == str(inspect.signature(_Plain))
    for args, kwargs in [((), {}), ((1,), {}), ((1, "x", 2.0, (), 5), {}), ((1, "x"), {"e": 1}),
                         ((1, "x"), {"a": 2})]:
        with pytest.raises(TypeError):
            _Plain(*args, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            _Quick(*args, **kwargs)  # type: ignore[arg-type]


def test_still_frozen_hashable_replaceable_and_picklable() -> None:
    q = _Quick(1, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.a = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del q.b  # type: ignore[misc]
    assert q == _Quick(1, "x") and hash(q) == hash(_Quick(1, "x")) and q != _Quick(1, "y")
    assert dataclasses.replace(q, b="z") == _Quick(1, "z", None, (1, 2))
    assert pickle.loads(pickle.dumps(q)) == q


def test_the_records_of_a_reply_are_quick_ones() -> None:
    target = ReplyTarget(7, 8, 9, Status.PENDING, CampaignState.RUNNING, CampaignKind.DRILL, None, "ja")
    assert target.household_id == 8 and target.language == "ja"
    item = ReplyItem(7, 8, 9, "safe", "web", "web:7:8:k", 1.0)
    assert item.details.empty and item.staff_id is None
    assert StatusTransition(7, 8, 9, Status.PENDING, Status.SAFE, True).first_answer
    for cls in (ReplyTarget, ReplyItem, StatusTransition):
        assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
        # the quick one, writing through the slots' setters, not the dataclass's own
        assert f"_set_{dataclasses.fields(cls)[0].name}" in cls.__init__.__code__.co_freevars


def test_a_class_it_cannot_speed_up_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match="not a frozen dataclass with slots"):
        quick(dataclass(frozen=True)(type("NoSlots", (), {"__annotations__": {"a": "int"}})))
    with pytest.raises(TypeError, match="not a frozen dataclass with slots"):
        quick(dataclass(slots=True)(type("NotFrozen", (), {"__annotations__": {"a": "int"}})))

    @dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = field(default_factory=list)

    with pytest.raises(TypeError, match="not a plain parameter"):
        quick(Factory)

    @dataclass(frozen=True, slots=True)
    class After:
        a: int

        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="__post_init__"):
        quick(After)

    @dataclass(frozen=True, slots=True)
    class OwnInit:
        a: int

        def __init__(self, a: int) -> None:
            object.__setattr__(self, "a", a * 2)

    with pytest.raises(TypeError, match="__init__ of its own"):
        quick(OwnInit)

    @dataclass(frozen=True, slots=True)
    class NotInInit:
        a: int
        b: int = field(init=False, default=0)

    with pytest.raises(TypeError, match="not a plain parameter"):
        quick(NotInInit)

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        v: InitVar[int] = 0

    with pytest.raises(TypeError, match="not a field"):
        quick(WithInitVar)

    @dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @dataclass(frozen=True, slots=True)
    class Inherited(Base):
        b: int

    with pytest.raises(TypeError, match="slot of its own"):
        quick(Inherited)


def test_its_type_hints_read_as_the_dataclass_s_own() -> None:
    assert typing.get_type_hints(ReplyItem.__init__)["details"].__name__ == "ReplyDetails"
