"""params.yaml: loading, profile overlays, `--set` overrides and schema validation.

One file configures everything. `profile: NAME` deep-merges `profiles.NAME` over the base values;
`--set a.b=value` overrides (YAML-typed) apply to the file first, so `--set profile=demo` selects
the overlay, and again after the overlay, so they always win. The result is validated against
`params.schema.json`; a bad value stops with the key, the expected form and the value found.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from cfa.errors import UserError

SCHEMA_FILE = "params.schema.json"


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("cfa").joinpath(SCHEMA_FILE).read_text())


def deep_merge(base: dict, overlay: dict) -> dict:
    """A new dict: `overlay` merged into `base` recursively (dicts merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a", "b", "c"], value parsed as YAML)."""
    if "=" not in text:
        raise UserError(f"--set expects key=value (dotted key), got {text!r}")
    key, raw = text.split("=", 1)
    keys = [k for k in key.strip().split(".") if k]
    if not keys:
        raise UserError(f"--set expects key=value (dotted key), got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise UserError(f"--set {key}: cannot parse value {raw!r} as YAML: {e}") from None
    return keys, value


def set_key(params: dict, keys: list[str], value: Any, origin: str) -> None:
    node = params
    for i, k in enumerate(keys[:-1]):
        if not isinstance(node.get(k), dict):
            dotted = ".".join(keys[: i + 1])
            raise UserError(f"{origin}: unknown key {dotted!r} (no such section in params)")
        node = node[k]
    node[keys[-1]] = value


def get_key(params: dict, dotted: str) -> Any:
    node: Any = params
    for i, k in enumerate(dotted.split(".")):
        if not isinstance(node, dict) or k not in node:
            where = ".".join(dotted.split(".")[:i]) or "the top level"
            known = ", ".join(node) if isinstance(node, dict) else "none (not a section)"
            raise UserError(f"unknown key {dotted!r}: {where} has keys {known}")
        node = node[k]
    return node


def _check_overlay_keys(base: Any, overlay: Any, prefix: str) -> None:
    """Every key an overlay sets must exist in the base file: a typo must not pass silently."""
    if not isinstance(overlay, dict):
        return
    for key, value in overlay.items():
        dotted = f"{prefix}.{key}"
        if not isinstance(base, dict) or key not in base:
            raise UserError(f"params: unknown key {dotted!r}: a profile may only override keys that "
                            f"exist in the base configuration")
        if isinstance(value, dict) and isinstance(base[key], dict):
            _check_overlay_keys(base[key], value, dotted)


def _describe_expected(error) -> str:
    s = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(s.get("properties", {}))
        return f"one of the known keys {allowed}" if allowed else "no extra keys"
    if error.validator in ("oneOf", "anyOf"):
        parts = []
        for sub in s[error.validator]:
            if "$ref" in sub:
                sub = schema()["$defs"][sub["$ref"].split("/")[-1]]
            parts.append(_short_form(sub))
        return " or ".join(parts)
    return _short_form(s)


def _short_form(s: dict) -> str:
    if "enum" in s:
        return "one of " + ", ".join(json.dumps(v) for v in s["enum"])
    words = []
    t = s.get("type")
    if t:
        words.append(t if isinstance(t, str) else " or ".join(t))
    if "minimum" in s:
        words.append(f">= {s['minimum']}")
    if "exclusiveMinimum" in s:
        words.append(f"> {s['exclusiveMinimum']}")
    if "maximum" in s:
        words.append(f"<= {s['maximum']}")
    if "exclusiveMaximum" in s:
        words.append(f"< {s['exclusiveMaximum']}")
    if "pattern" in s:
        words.append(f"matching {s.get('description') or s['pattern']}")
    if "required" in s and not words:
        words.append("an object with keys " + ", ".join(s["required"]))
    return " ".join(words) or "a valid value"


def validate(params: dict, origin: str = "params.yaml", overridden: dict[str, str] | None = None) -> None:
    """Raise UserError naming the key, the expected form and the value found; a key that
    `overridden` (dotted key -> the `--set` text) set is named as coming from that --set."""
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema())
    validator = validator_cls(schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: (len(e.path), list(map(str, e.path))))
    if not errors:
        return
    lines = []
    for err in errors[:10]:
        path = ".".join(str(p) for p in err.path) or "(top level)"
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            for k in extra:
                key = f"{path}.{k}" if err.path else k
                lines.append(f"  {key}: unknown key{_set_by(key, overridden)}; expected {_describe_expected(err)}")
            continue
        if err.validator == "required":
            lines.append(f"  {path}: {err.message}")
            continue
        lines.append(f"  {path}: expected {_describe_expected(err)}, found {err.instance!r}"
                     f" ({type(err.instance).__name__}){_set_by(path, overridden)}")
    more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
    raise UserError(f"{origin} is invalid:\n" + "\n".join(lines) + more)


def _set_by(dotted: str, overridden: dict[str, str] | None) -> str:
    """" (from --set KEY=VALUE)" when a --set wrote this key or a section holding it."""
    for key, text in (overridden or {}).items():
        if dotted == key or dotted.startswith(key + "."):
            return f" (from --set {text})"
    return ""


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"params file not found: {path} (run from the repository root, or pass --params)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping at the top level, found {type(data).__name__}")
    return data


def resolve(raw: dict, overrides: Iterable[str] = (), origin: str = "params.yaml") -> dict:
    """Apply overrides, then the selected profile, then the overrides again; validate."""
    overrides = list(overrides)
    parsed = [parse_override(o) for o in overrides]
    overridden = {".".join(keys): text.strip() for (keys, _), text in zip(parsed, overrides)}
    params = copy.deepcopy(raw)
    for keys, value in parsed:
        set_key(params, keys, value, f"--set {'.'.join(keys)}")
    profiles = params.get("profiles") or {}
    profile = params.get("profile", "paper")
    if profile != "paper":
        if profile not in profiles:
            known = ", ".join(["paper", *profiles]) or "paper"
            raise UserError(f"{origin}: profile: unknown profile {profile!r}{_set_by('profile', overridden)}; "
                            f"expected one of {known}")
        _check_overlay_keys(params, profiles[profile], f"profiles.{profile}")
        params = deep_merge(params, profiles[profile])
        for keys, value in parsed:
            set_key(params, keys, value, f"--set {'.'.join(keys)}")
    for name, overlay in profiles.items():
        _check_overlay_keys(raw, overlay, f"profiles.{name}")
    validate(params, origin, overridden)
    _check_references(params, origin)
    return params


def _check_references(params: dict, origin: str) -> None:
    """Cross-key checks the schema cannot express: tables name existing datasets and models, and no
    dataset serves two tables (the workflows make each dataset's runs once)."""
    owner: dict[str, str] = {}
    for table, spec in params["tables"].items():
        for ds in spec["datasets"]:
            if ds not in params["datasets"]:
                raise UserError(f"{origin}: tables.{table}.datasets: {ds!r} is not a key of datasets "
                                f"(known: {', '.join(params['datasets'])})")
            if ds in owner:
                raise UserError(f"{origin}: dataset {ds!r} is listed by tables.{owner[ds]} and tables.{table}; "
                                f"a dataset belongs to one table (define a second dataset entry for the other)")
            owner[ds] = table
        for model in spec["models"]:
            if model not in params["models"]:
                raise UserError(f"{origin}: tables.{table}.models: {model!r} is not a key of models "
                                f"(known: {', '.join(params['models'])})")


def overrides_between(base: dict, changed: dict, prefix: str = "") -> list[str]:
    """`key=value` strings (for --set) that turn `base` into `changed`, leaf by leaf.

    Snakemake merges `--config` into params.yaml; the rules hand the difference to every `cfa`
    command, so the commands equal DVC's exactly when nothing is overridden.
    """
    out: list[str] = []
    for key, value in changed.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out += overrides_between(base[key], value, dotted + ".")
        elif key not in base or base[key] != value:
            out.append(f"{dotted}={_yaml_scalar(value)}")
    return out


def _yaml_scalar(value: Any) -> str:
    # Strings pass through untouched: Snakemake hands nested --config values over as raw strings,
    # and --set reads its value as YAML, the same way a typed CLI value is read.
    if isinstance(value, str):
        return value
    return json.dumps(value)


def load_params(path: str | Path = "params.yaml", overrides: Iterable[str] = ()) -> dict:
    """The resolved, validated configuration."""
    return resolve(read_yaml(path), overrides, origin=str(path))


def profile_table_overrides(raw: dict, resolved: dict) -> list[str]:
    """`tables.<t>.<list>=[...]` for every table list the active profile changes.

    DVC expands its stages from params.yaml's lists as written (its templating cannot apply a
    profile overlay), so a profile that changes a table's lists runs under DVC only with these set
    explicitly, e.g. `dvc exp run -S profile=demo -S 'tables.table1.datasets=[edges2objects]'`.
    """
    out = []
    for table, spec in resolved.get("tables", {}).items():
        base = (raw.get("tables") or {}).get(table, {})
        for key in ("datasets", "models", "metrics"):
            if spec.get(key) != base.get(key):
                out.append(f"tables.{table}.{key}=[{','.join(spec.get(key) or [])}]")
    return out
