"""Helpers for the django-fsm-2 state machines of every app."""

from django_fsm import Transition


def transitions_of(model, field: str = "status") -> list[Transition]:
    """Each transition method of a model's FSM field once (a method with several sources is listed once)."""
    seen: dict[str, Transition] = {}
    for transition in model._meta.get_field(field).get_all_transitions(model):
        seen.setdefault(transition.name, transition)
    return list(seen.values())
