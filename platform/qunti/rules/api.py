"""JSON API over the running rule sets (published in the admin console, else the files): try an order context on a rule set and see where and why it routes."""
from __future__ import annotations

from flask import Blueprint, jsonify

from qunti.api.body import json_object
from qunti.api.errors import ApiError
from qunti.rules.published import current_ruleset
from qunti.rules.ruleset import context_problem

rules_api = Blueprint("rules_api", __name__)
bp = rules_api  # the name qunti.web registers every blueprint module by

# An order context is a few fields plus one form's answers; anything larger is a mistake or abuse.
MAX_BODY = 64 * 1024


@rules_api.post("/rules/<ruleset_id>/evaluate")
def evaluate(ruleset_id: str):
    """Body ``{"context": {...}}`` -> the matched row, its route and the reason, with the rule set's digest."""
    ruleset = current_ruleset(ruleset_id)
    if ruleset is None:
        raise ApiError(404, f"没有编号为 '{ruleset_id}' 的规则集")
    body = json_object(MAX_BODY)
    context = body.get("context")
    if not isinstance(context, dict):
        raise ApiError(422, "请求体须形如 {\"context\": {...}}，context 是一个 JSON 对象", path="/context")
    problem = context_problem(context)
    if problem is not None:
        raise ApiError(422, problem[1], path="/context" + problem[0])
    try:
        decision = ruleset.decide(context)
    except ValueError as exc:
        raise ApiError(422, str(exc), path="/context") from None
    return jsonify(decision.as_dict())
