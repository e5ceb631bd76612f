"""Load conf/base, overlay conf/<env>, overlay `--set` overrides, and validate into typed Settings.

Every value remembers where it came from (a file or a `--set`), so an error names the file, the key and what
was expected. Strings may use `${VAR}` or `${VAR:-default}` to take secrets and paths from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from customer_ml.errors import ConfigError
from customer_ml.settings import Settings

DEFAULT_ENV = "local"
CONF_DIR_VARIABLE = "CUSTOMER_ML_CONF_DIR"
OVERLAY_VARIABLE = "CUSTOMER_ML_OVERLAY"
EXAMPLE_OVERLAY = "examples/retail_bank"
# Where a later file replaces a mapping whole instead of merging into it: a suite, a source, the derived features,
# the label, the labels source and the synthetic spec describe ONE table; keys of another table's description must
# not survive.
# (`--set` always changes just the key it names.)
REPLACED_WHOLE = (
    "validation.suites.*",
    "ingest.sources.*",
    "data.label",
    "monitoring.labels",
    "classifier.features.derived",
    "segmenter.features.derived",
    "synthetic.segments",
    "synthetic.columns",
    "synthetic.label.terms",
    "synthetic.faults",
    "synthetic.drift",
)
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# What makes a value secret, by its key (a key's last dotted part or the whole of it) and inside a value: tested
# one by one in tests/reliability/test_secrets.py. Add a pattern there and here together.
SECRET_KEY_PATTERNS = (
    r"password",
    r"passwd",
    r"pwd",
    r"secret",
    r"token",
    r"credential",
    r"access[._-]?key",
    r"account[._-]key",
    r"api[._-]?key",
    r"private[._-]?key",
    r"sas",
    r"authorization",
    r"auth[._-]?header",
)
_SECRET_KEY = re.compile(r"(^|[._-])(" + "|".join(SECRET_KEY_PATTERNS) + r")", re.IGNORECASE)
_URI_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^@/\s]+)@", re.IGNORECASE)
# key=value pairs inside a value: URI query parameters (?token=…&sig=…) and JDBC / connection strings
# (;password=…;), the value running to the next separator.
_SECRET_PAIR = re.compile(
    r"(?P<key>(?:^|[?&;,\s])(?:[a-z0-9_.-]*?)(?:" + "|".join(SECRET_KEY_PATTERNS) + r"|sig|signature)[a-z0-9_.-]*)"
    r"(?P<sep>\s*[=:]\s*)(?!(?:bearer|basic)\s)(?P<value>[^&;,\s]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<scheme>bearer|basic)\s+[a-z0-9._~+/=-]+", re.IGNORECASE)


def find_conf_dir(conf_dir: str | Path | None = None) -> Path:
    """The configuration folder: the one given, else $CUSTOMER_ML_CONF_DIR, else ./conf, else the packaged one.

    Args:
        conf_dir: an explicit folder (the CLI's `--conf-dir`).

    Returns:
        A folder holding `base/`.
    """
    explicit = conf_dir or os.environ.get(CONF_DIR_VARIABLE)
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not (path / "base").is_dir():
            raise ConfigError(f"configuration folder {path} has no base/ folder; pass --conf-dir pointing at a conf/")
        return path
    package_dir = Path(__file__).resolve().parent
    candidates = [Path.cwd() / "conf", package_dir / "conf", package_dir.parents[1] / "conf"]
    for candidate in candidates:
        if (candidate / "base").is_dir():
            return candidate.resolve()
    raise ConfigError(
        f"no configuration found (looked in {', '.join(str(c) for c in candidates)}); pass --conf-dir or set "
        f"{CONF_DIR_VARIABLE}"
    )


def find_jobs_dir() -> Path:
    """The job files spark-submit runs (jobs/*.py): the packaged copy in a wheel install, else the checkout's jobs/."""
    package_dir = Path(__file__).resolve().parent
    candidates = [package_dir / "jobs", package_dir.parents[1] / "jobs"]
    for candidate in candidates:
        if (candidate / "run.py").is_file():
            return candidate
    raise ConfigError(f"no job files found (looked in {', '.join(str(c) for c in candidates)}); reinstall customer-ml")


def load_settings(
    env: str = DEFAULT_ENV,
    conf_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    overlays: Iterable[str | Path] = (),
) -> Settings:
    """Merge base + env overlay + dataset overlays + overrides and validate them.

    Args:
        env: the overlay folder under the configuration folder (local, cluster, databricks, or your own).
        conf_dir: the configuration folder; see `find_conf_dir`.
        overrides: `a.b.c=value` strings; values are parsed as YAML (`3` is an int, `[a, b]` a list).
        overlays: YAML files or folders of them, applied after the env in order (see `resolve_overlays`);
            $CUSTOMER_ML_OVERLAY's entries come first.

    Returns:
        The validated settings.

    Raises:
        ConfigError: naming the file, key and expectation of every problem found.
    """
    root = find_conf_dir(conf_dir)
    env_dir = root / env
    if not env_dir.is_dir():
        available = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in ("base", "examples"))
        raise ConfigError(
            f"environment '{env}' has no folder {env_dir}; available: {', '.join(available) or 'none'} "
            f"(create {env_dir} or pass --env with one of them)"
        )
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    files = [file for folder in (root / "base", env_dir) for file in _yaml_files(folder)]
    files += [file for overlay in resolve_overlays(overlays, root) for file in _yaml_files(overlay)]
    for file in files:
        _merge(merged, _read_yaml(file, root), origins, _relative(file, root), whole=True)
    for override in overrides:
        key, value = _parse_override(override)
        _merge(merged, _nest(key, value), origins, f"--set {override}")
    merged["env"] = env
    merged["conf_dir"] = str(root)
    try:
        return Settings.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(_describe(error, origins)) from None


def resolve_overlays(overlays: Iterable[str | Path], root: Path) -> list[Path]:
    """The overlay files and folders to apply, in order: $CUSTOMER_ML_OVERLAY's (os.pathsep-separated), then
    `overlays`. A relative path is taken from the current folder, else from the configuration folder (so
    `examples/retail_bank` works from anywhere).

    Raises:
        ConfigError: an overlay is neither a YAML file nor a folder, naming where it was looked for.
    """
    listed = [p for p in os.environ.get(OVERLAY_VARIABLE, "").split(os.pathsep) if p.strip()] + list(overlays)
    found = []
    for overlay in listed:
        path = Path(overlay).expanduser()
        tried = [path] if path.is_absolute() else [Path.cwd() / path, root / path]
        match = next((p for p in tried if p.is_dir() or (p.is_file() and p.suffix in (".yml", ".yaml"))), None)
        if match is None:
            raise ConfigError(
                f"overlay {overlay} not found (looked for a .yml file or a folder at {' and '.join(map(str, tried))}); "
                "write one with `customer-ml init` or fix the --overlay / $CUSTOMER_ML_OVERLAY path"
            )
        found.append(match.resolve())
    return found


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with secrets replaced by `***` (keys that look secret, URI credentials);
    keys are spelled as in the YAML (`schema`, not the attribute name), so the output loads back."""
    return _mask(settings.model_dump(mode="json", by_alias=True))


def to_yaml(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False)


def _yaml_files(location: Path) -> list[Path]:
    if location.is_file():
        return [location]
    return sorted(location.glob("*.yml")) + sorted(location.glob("*.yaml"))


def _relative(file: Path, root: Path) -> str:
    try:
        return f"{root.name}/{file.relative_to(root)}"
    except ValueError:  # an overlay outside the configuration folder
        return str(file)


def _read_yaml(file: Path, root: Path) -> dict[str, Any]:
    where = _relative(file, root)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{where}: not valid YAML ({str(error).splitlines()[0]}); fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys at the top, got {type(data).__name__}")
    unset: list[str] = []
    interpolated = _interpolate(data, where, "", unset)
    if unset:
        raise ConfigError(join_problems(unset))
    return interpolated


def join_problems(problems: list[str]) -> str:
    """Every problem found, in one line: `N problems: [1] a [2] b` (a scheduler's log keeps one line per failure;
    the messages hold semicolons of their own)."""
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems: " + " ".join(f"[{i}] {p}" for i, p in enumerate(problems, 1))


def _interpolate(value: Any, where: str, key: str, unset: list[str]) -> Any:
    """`value` with ${VAR} and ${VAR:-default} replaced; each variable that is not set is added to `unset`."""
    if isinstance(value, dict):
        return {k: _interpolate(v, where, f"{key}.{k}" if key else str(k), unset) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, where, f"{key}[{i}]", unset) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        unset.append(
            f"{where}: {key} uses environment variable ${{{name}}}, which is not set; export {name} or write "
            f"${{{name}:-default}}"
        )
        return ""

    return _ENV_REFERENCE.sub(substitute, value)


def _merge(
    target: dict[str, Any],
    source: Mapping[str, Any],
    origins: dict[str, str],
    where: str,
    prefix: str = "",
    whole: bool = False,
) -> None:
    """Deep-merge `source` into `target`: mappings merge key by key, anything else replaces; an empty mapping
    replaces too, so an overlay or `--set key={}` can clear one (e.g. a grid or the faults). With `whole` (a
    file, not a `--set`), the mappings at `REPLACED_WHOLE` paths are replaced whole."""
    for key, value in source.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        merge_into = isinstance(value, dict) and value and isinstance(target.get(key), dict)
        if merge_into and not (whole and replaced_whole(path)):
            _merge(target[key], value, origins, where, path, whole)
            continue
        target[key] = value
        for stale in [p for p in origins if p.startswith(path + ".")]:
            del origins[stale]
        for leaf in _leaves(value, path):
            origins[leaf] = where


def replaced_whole(path: str) -> bool:
    """True when a file's mapping at `path` (e.g. validation.suites.customers) replaces the earlier one whole."""
    parts = path.split(".")
    return any(
        len(pattern.split(".")) == len(parts)
        and all(p == "*" or p == part for p, part in zip(pattern.split("."), parts, strict=True))
        for pattern in REPLACED_WHOLE
    )


def _leaves(value: Any, path: str) -> list[str]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}")]
    return [path]


def _parse_override(override: str) -> tuple[str, Any]:
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {override!r}: expected KEY=VALUE with a dotted key, e.g. --set spark.master=local[2]")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def _nest(key: str, value: Any) -> dict[str, Any]:
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def _describe(error: ValidationError, origins: Mapping[str, str]) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            leaves = sorted(p for p in origins if p == key or p.startswith(key + "."))
            shown = leaves[0] if leaves else key
            source = origins.get(shown, "configuration")
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            lines.append(f"{source}: unknown key '{shown}'{_known_keys(parent)}; remove it or fix its spelling")
            continue
        source = _origin(key, origins)
        got = problem.get("input")
        expected = problem["msg"][0].lower() + problem["msg"][1:]
        shown = "" if isinstance(got, dict | list) or len(repr(got)) > 80 else f" (got {got!r})"
        lines.append(f"{source}: {key}: {expected}{shown}")
    return join_problems(lines)


def _origin(key: str, origins: Mapping[str, str]) -> str:
    probe = key
    while probe:
        if probe in origins:
            return origins[probe]
        children = sorted(p for p in origins if p.startswith(probe + "."))
        if children:  # a section-level error: an override under it is the likeliest cause, else its first file
            overrides = [origins[p] for p in children if origins[p].startswith("--set")]
            return overrides[-1] if overrides else origins[children[0]]
        probe = probe.rsplit(".", 1)[0] if "." in probe else ""
    return "configuration defaults"


def _known_keys(parent: str) -> str:
    model: Any = Settings
    for part in parent.split(".") if parent else []:
        field = getattr(model, "model_fields", {}).get(part)
        annotation = getattr(field, "annotation", None)
        if annotation is None or not hasattr(annotation, "model_fields"):
            return ""
        model = annotation
    names = [n for n in model.model_fields if not (model is Settings and n in ("env", "conf_dir"))]
    return f" (known keys{' under ' + parent if parent else ''}: {', '.join(names)})"


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str):
        if _SECRET_KEY.search(key) and value:
            return "***"
        return mask_text(value)
    return value


def mask_text(text: str) -> str:
    """`text` with the secrets inside it masked: URI credentials (`user:pass@`), secret-looking key=value pairs
    (URI query parameters, JDBC / connection-string properties) and `Bearer …` / `Basic …` tokens."""
    text = _URI_USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    text = _BEARER.sub(lambda m: f"{m.group('scheme')} ***", text)
    return _SECRET_PAIR.sub(lambda m: f"{m.group('key')}{m.group('sep')}***", text)
