"""Plugin discovery and the registry of what plugins offer.

Plugins are found through the ``genplug`` entry-point group and loaded one at a time.
A plugin that fails to import or to register is recorded as failed (with its traceback)
and everything else keeps working; ``GENPLUG_STRICT_PLUGINS=1`` turns such failures into
exceptions. The core's built-ins register through the same plugin manager.

Environment variables:
    GENPLUG_LOAD_PLUGINS: comma-separated distribution names; only these are loaded
        (set it empty to load no third-party plugin at all).
    GENPLUG_BLOCK_PLUGINS: comma-separated distribution names that are never loaded.
    GENPLUG_STRICT_PLUGINS: ``1`` makes any plugin failure raise :class:`PluginError`.
"""

from __future__ import annotations

import difflib
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from types import ModuleType
from typing import Any

import attrs
import pluggy

from genplug import _builtins, _hookspecs
from genplug._errors import PluginError, shown
from genplug._specs import ArchitectureSpec, DatasetSpec, MetricSpec, SamplerSpec
from genplug._version import __version__

__all__ = [
    "API_VERSION",
    "CORE_PLUGIN",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "Registry",
    "registry",
    "reset_registry",
    "use_registry",
]

#: The version of the plugin API. A plugin module declares the version it was written
#: for as ``GENPLUG_API``; a plugin that declares another version is skipped.
API_VERSION = 1

ENTRY_POINT_GROUP = "genplug"
CORE_PLUGIN = "genplug"

_KINDS: dict[str, tuple[str, type]] = {
    # hook name: (registry attribute, spec type)
    "register_architectures": ("architectures", ArchitectureSpec),
    "register_samplers": ("samplers", SamplerSpec),
    "register_datasets": ("datasets", DatasetSpec),
    "register_metrics": ("metrics", MetricSpec),
}


@attrs.define
class PluginInfo:
    """One plugin as ``genplug list`` shows it.

    ``status`` is ``ok``, ``failed``, ``incompatible`` or ``blocked``; ``error`` is the
    last line of the failure and ``traceback`` the whole of it.
    """

    name: str
    version: str
    module: str
    status: str = "ok"
    error: str = ""
    traceback: str = ""


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _strict() -> bool:
    return os.environ.get("GENPLUG_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


class Registry:
    """Everything registered by the loaded plugins, keyed by name.

    Build one with :func:`registry` (entry points plus built-ins) or, in tests, empty
    with ``Registry()`` followed by :meth:`add_plugin` for in-process plugin objects.

    Example:
        >>> import genplug
        >>> class MyPlugin:
        ...     @genplug.hookimpl
        ...     def register_datasets(self, register):
        ...         register(genplug.DatasetSpec(name="blobs", kind="points", shape=(2,),
        ...                                      description="my blobs", loader="mypkg.data:blobs"))
        >>> reg = genplug.Registry()
        >>> reg.add_plugin(MyPlugin(), name="genplug-blobs").status
        'ok'
        >>> reg.dataset("blobs").plugin
        'genplug-blobs'
        >>> reg.add_plugin(MyPlugin(), name="genplug-blobs2").error
        "PluginError: dataset 'blobs' is registered by both genplug-blobs and genplug-blobs2: ..."
    """

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(_hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.architectures: dict[str, ArchitectureSpec] = {}
        self.samplers: dict[str, SamplerSpec] = {}
        self.datasets: dict[str, DatasetSpec] = {}
        self.metrics: dict[str, MetricSpec] = {}

    # -- loading -----------------------------------------------------------------

    def add_plugin(self, plugin: ModuleType | object, *, name: str, version: str = "0") -> PluginInfo:
        """Register one plugin object and run its hooks; failures are recorded, not raised.

        Everything the plugin registers lands at once or not at all.
        """
        module = getattr(plugin, "__name__", type(plugin).__name__)
        info = PluginInfo(name=name, version=version, module=module)
        self.plugins[name] = info
        api = getattr(plugin, "GENPLUG_API", API_VERSION)
        if api != API_VERSION:
            info.status = "incompatible"
            info.error = (
                f"plugin {name} {version} was written for genplug API {api}, but this genplug "
                f"provides API {API_VERSION}: install a release of {name} built for API "
                f"{API_VERSION}, or a genplug that provides API {api}"
            )
            self._maybe_raise(info)
            return info
        try:
            self.pm.register(plugin, name=name)
            staged = self._collect(name)
            self._check_collisions(name, staged)
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(info, exc)
            return info
        for attr, specs in staged.items():
            getattr(self, attr).update({spec.name: spec for spec in specs})
        return info

    def load_entry_points(self) -> None:
        """Find plugins in the ``genplug`` entry-point group and load each in turn."""
        only = _env_list("GENPLUG_LOAD_PLUGINS")
        blocked = set(_env_list("GENPLUG_BLOCK_PLUGINS") or ())
        points = sorted(
            metadata.entry_points(group=ENTRY_POINT_GROUP),
            key=lambda ep: (ep.dist.name if ep.dist else "", ep.name),
        )
        for ep in points:
            dist = ep.dist.name if ep.dist else ep.name
            version = ep.dist.version if ep.dist else "0"
            if dist in self.plugins:
                continue
            if dist in blocked or (only is not None and dist not in only):
                reason = "GENPLUG_BLOCK_PLUGINS" if dist in blocked else "GENPLUG_LOAD_PLUGINS"
                self.plugins[dist] = PluginInfo(
                    dist, version, ep.value, status="blocked", error=f"not loaded because of {reason}"
                )
                continue
            try:
                module = ep.load()
            except Exception as exc:
                info = PluginInfo(dist, version, ep.value)
                self.plugins[dist] = info
                self._fail(info, exc)
                continue
            self.add_plugin(module, name=dist, version=version)

    def _collect(self, plugin_name: str) -> dict[str, list[Any]]:
        """Run the plugin's registration hooks and return what it registered, by kind."""
        staged: dict[str, list[Any]] = {attr: [] for attr, _ in _KINDS.values()}
        for hook_name, (attr, spec_type) in _KINDS.items():
            register = _registrar(staged[attr], spec_type, plugin=plugin_name, hook=hook_name)
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name == plugin_name:
                    impl.function(register=register)
        return staged

    def _check_collisions(self, plugin_name: str, staged: dict[str, list[Any]]) -> None:
        for attr, specs in staged.items():
            existing = getattr(self, attr)
            for spec in specs:
                if spec.name in existing:
                    other = existing[spec.name].plugin
                    raise PluginError(
                        f"{attr[:-1]} {spec.name!r} is registered by both {other} and {plugin_name}: "
                        f"uninstall one of them, or set GENPLUG_BLOCK_PLUGINS={plugin_name}"
                    )

    def _fail(self, info: PluginInfo, exc: BaseException) -> None:
        info.status = "failed"
        info.traceback = "".join(traceback.format_exception(exc))
        info.error = f"{type(exc).__name__}: {exc}".strip().splitlines()[-1]
        self._maybe_raise(info, exc)

    def _maybe_raise(self, info: PluginInfo, exc: BaseException | None = None) -> None:
        if _strict():
            raise PluginError(
                f"plugin {info.name} {info.status} (GENPLUG_STRICT_PLUGINS is set): {info.error}"
            ) from exc

    # -- lookups -----------------------------------------------------------------

    def architecture(self, name: str) -> ArchitectureSpec:
        return self._get("architecture", self.architectures, name)

    def sampler(self, name: str) -> SamplerSpec:
        return self._get("sampler", self.samplers, name)

    def dataset(self, name: str) -> DatasetSpec:
        return self._get("dataset", self.datasets, name)

    def metric(self, name: str) -> MetricSpec:
        return self._get("metric", self.metrics, name)

    def _get(self, kind: str, table: dict[str, Any], name: str) -> Any:
        if name in table:
            return table[name]
        known = ", ".join(sorted(table)) or "none installed"
        close = difflib.get_close_matches(name, list(table), n=1) if isinstance(name, str) else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        failed = [p.name for p in self.plugins.values() if p.status == "failed"]
        if failed:
            hint += f" Some plugins failed to load ({', '.join(failed)}): see `genplug doctor`."
        raise PluginError(f"unknown {kind} {shown(name, limit=60)}; known: {known}.{hint}")

    def commands(self, cli: Any) -> None:
        """Let every loaded plugin add its CLI commands; a failing plugin is recorded."""
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except Exception as exc:
                self._fail(self.plugins[impl.plugin_name], exc)


def _registrar(into: list[Any], spec_type: type, *, plugin: str, hook: str) -> Any:
    """The ``register`` callback a plugin's ``hook`` receives: checks, tags and stages specs."""

    def register(spec: Any) -> None:
        if not isinstance(spec, spec_type):
            raise PluginError(
                f"plugin {plugin} passed {spec!r} to register() in {hook}; it takes a genplug.{spec_type.__name__}"
            )
        if any(s.name == spec.name for s in into):
            raise PluginError(f"plugin {plugin} registers {spec.name!r} twice in {hook}")
        into.append(attrs.evolve(spec, plugin=plugin))

    return register


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry: built-ins first, then every entry-point plugin."""
    global _registry
    if _registry is None:
        reg = Registry()
        reg.add_plugin(_builtins, name=CORE_PLUGIN, version=_core_version())
        reg.load_entry_points()
        _registry = reg
    return _registry


@contextmanager
def use_registry(reg: Registry) -> Iterator[Registry]:
    """Make ``reg`` the process-wide registry inside the ``with`` block (for tests)."""
    global _registry
    previous, _registry = _registry, reg
    try:
        yield reg
    finally:
        _registry = previous


def reset_registry() -> None:
    """Forget the loaded plugins; the next lookup discovers them again."""
    global _registry
    _registry = None


def _core_version() -> str:
    return __version__
