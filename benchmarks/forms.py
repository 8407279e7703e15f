"""Form engine speed, measured side by side in one run.

1. Submissions validated per second: the compiled form's cached validator (``CompiledForm.check``)
   against a fresh ``jsonschema.validate()`` per submission. Target: at least 30x.
2. Form pages rendered per second: the resident form page against a plain Flask route rendering a
   static page of the same size, both through the same app and test client. Target: at least 0.5x.

Usage: python benchmarks/forms.py [form-id]
"""
from __future__ import annotations

import sys
import tempfile

import _util  # noqa: F401  (puts platform/ on sys.path)
import jsonschema

from qunti import create_app
from qunti.cli import prepare
from qunti.forms.registry import compiled_version, current_version, version_schema


def main(form_id: str = "rights-protection") -> int:
    instance = tempfile.mkdtemp(prefix="qunti-bench-")
    app = create_app({"INSTANCE_PATH": instance, "SERVER_NAME": "bench.local"})
    with app.app_context():
        prepare()
        version = current_version(form_id)
        compiled = compiled_version(version)
        schema = version_schema(version)
        answers = schema["examples"][0]
        assert compiled.check(answers) == [], "the shipped example must be valid"
        checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
        cached, fresh = _util.compare(lambda: compiled.check(answers),
                                      lambda: jsonschema.validate(answers, schema, format_checker=checker))
        item_code = next(i["code"] for i in app.extensions["qunti"].catalog.menu if i["form"] == form_id)

    # The baseline renders a template with no logic (compiled once, as Flask's template cache does)
    # holding the very HTML of the form page; the route must exist before the first request.
    static = {}

    @app.get("/__static_page")
    def static_page():
        return static["template"].render()

    client = app.test_client()
    page = client.get(f"/services/{item_code}")
    assert page.status_code == 200
    static["template"] = app.jinja_env.from_string(page.get_data(as_text=True).replace("{", "{{ '{' }}"))

    # Same size, give or take the trailing newline Jinja drops.
    assert abs(len(client.get("/__static_page").data) - len(page.data)) <= 1
    form_page, static = _util.compare(lambda: client.get(f"/services/{item_code}"),
                                      lambda: client.get("/__static_page"))

    print(f"form: {form_id} ({len(page.data)} bytes page)")
    print(f"validation: cached {cached:,.0f}/s, fresh jsonschema.validate() {fresh:,.0f}/s")
    print(f"rendering: form page {form_page:,.0f}/s, static page of the same size {static:,.0f}/s")
    ratio_validation, ratio_render = cached / fresh, form_page / static
    print(f"ratio cached/fresh validation: {ratio_validation:.1f}x (target >= 30x)")
    print(f"ratio form page/static page: {ratio_render:.2f}x (target >= 0.5x)")
    return 0 if ratio_validation >= 30 and ratio_render >= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
