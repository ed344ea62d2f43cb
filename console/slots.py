"""qasync's `asyncSlot`, typed, so decorated methods keep their signatures for the type checker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import qasync

P = ParamSpec("P")
R = TypeVar("R")


def async_slot(*types: type) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, asyncio.Task[R]]]:
    """A Qt slot that runs a coroutine method as a task on the qasync loop (see `qasync.asyncSlot`);
    calling the method returns that task."""
    decorate: Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, asyncio.Task[R]]]
    decorate = qasync.asyncSlot(*types)
    return decorate
