"""Registries: name -> factory, so that adding an objective, net or dataset is one entry."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


class UnknownNameError(ValueError):
    """A name that is not in a registry; the message lists the valid names."""


class Registry:
    """name -> factory, rejecting duplicates and listing the valid names in its errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = factory
            return factory

        return add

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str, field: str | None = None) -> Callable[..., Any]:
        if name not in self._entries:
            where = field or self.kind
            raise UnknownNameError(
                f"{where}: unknown {self.kind} {name!r}; valid choices: {', '.join(self.names())}"
            )
        return self._entries[name]

    def build(self, name: str, options: dict[str, Any], field: str, **fixed_args: Any) -> Any:
        """Call the factory ``name`` with ``options`` (checked against its keyword arguments).

        ``field`` names the config key in errors (``model.objective``; options under ``FIELD_options``);
        ``fixed_args`` are passed by the caller, not the user, and are not valid options.
        """
        factory = self.get(name, field=field)
        params = [p for p in inspect.signature(factory).parameters if p not in fixed_args]
        unknown = sorted(set(options) - set(params))
        if unknown:
            raise ValueError(
                f"{field}_options: {name} has no option {', '.join(unknown)}; "
                f"valid options: {', '.join(params) or 'none'}"
            )
        for key, value in options.items():
            check_option_type(f"{field}_options.{key}", value, inspect.signature(factory).parameters[key])
        return factory(**fixed_args, **options)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def check_option_type(field: str, value: Any, parameter: inspect.Parameter) -> None:
    """An option whose default is a bool, number or string must be one too (``real_label=abc``)."""
    default = parameter.default
    if default is inspect.Parameter.empty or default is None or value is None:
        return
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        # The annotation decides int or float ("from __future__ import annotations": a string).
        annotation = parameter.annotation if isinstance(parameter.annotation, str) else ""
        integer = annotation == "int" or (annotation == "" and isinstance(default, int))
        kinds = int if integer else (int, float)
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        expected = "an integer" if integer else "a number"
    elif isinstance(default, str):
        ok, expected = isinstance(value, str), "a string"
    else:
        return
    if not ok:
        raise ValueError(f"{field}: expected {expected}, got {value!r}")
