"""Pieces the staff forms share: a service's refusal shown on the fields it names, lines of a form set named the
way the services name them (`lines[2].sku`), and "more rows" that keep what was typed."""

from __future__ import annotations

from collections.abc import Sequence


def line_field(field: str, *, prefix: str = "lines") -> tuple[int, str] | None:
    """(index, name) of a service's `lines[2].sku`, or None for any other field."""
    head = f"{prefix}["
    if not field.startswith(head) or "]" not in field:
        return None
    index = field[len(head):field.index("]")]
    if not index.isdigit():
        return None
    return int(index), field.partition(".")[2]


def show_domain_error(err, *, form, line_forms: Sequence = (), entered: Sequence[int] = (),
                      nested: dict | None = None) -> None:
    """Put a DomainError on the page: its message on `form`, each field it names beside that field. `lines[i].x`
    goes to the form of the i-th entered line (`entered` holds their positions in `line_forms`), `name.x` to the
    form `nested[name]` (e.g. {"shipping_address": address_form})."""
    form.add_error(None, err.message)
    for field, problems in (err.extra.get("fields") or {}).items():
        line = line_field(field)
        if line is not None:
            index, name = line
            if index < len(entered) and name in line_forms[entered[index]].fields:
                line_forms[entered[index]].add_error(name, problems)
            continue
        group, _, name = field.partition(".")
        if name and nested and group in nested and name in nested[group].fields:
            nested[group].add_error(name, problems)
        elif field in form.fields:
            form.add_error(field, problems)


def with_more_rows(post, *, prefix: str, more: int, limit: int):
    """The posted data with `more` empty rows added to the form set `prefix` (at most `limit` rows)."""
    data = post.copy()
    total = data.get(f"{prefix}-TOTAL_FORMS", "")
    data[f"{prefix}-TOTAL_FORMS"] = str(min((int(total) if total.isdigit() else more) + more, limit))
    return data
