"""Each distinct content of a form is an immutable version; submissions keep theirs."""
from __future__ import annotations

import json
import shutil

from sqlalchemy import select

from qunti.catalog import state
from qunti.db import db
from qunti.forms.models import FormVersion, Submission
from qunti.sync import sync

from conftest import ROOT
from helpers import example_answers

FORM = "legal-consultation"


def copy_definitions(tmp_path):
    forms = tmp_path / "forms"
    shutil.copytree(ROOT / "forms", forms)
    return forms


def rewrite(path, change):
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")


def submit(app, answers):
    response = app.test_client().post(f"/api/v1/forms/{FORM}/submissions", json=answers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_changed_file_makes_a_new_version_and_old_submissions_keep_theirs(make_app, tmp_path):
    forms = copy_definitions(tmp_path)
    app = make_app(FORMS_DIR=str(forms))
    answers = example_answers(app, FORM)
    first_id = submit(app, answers)

    rewrite(forms / f"{FORM}.json", lambda d: d["properties"]["description"].update(title="事情经过（新）"))
    # A restart after the file changed: same database, no emptying this time.
    app2 = make_app(fresh=False, FORMS_DIR=str(forms))
    with app2.app_context():
        assert sync(state().catalog) == 1
        assert sync(state().catalog) == 0          # an unchanged file is a no-op
    second_id = submit(app2, answers)

    with app2.app_context():
        first, second = db.session.get(Submission, first_id), db.session.get(Submission, second_id)
        assert (first.form_version.number, second.form_version.number) == (1, 2)
        assert first.form_version.schema["properties"]["description"]["title"] != "事情经过（新）"
        assert second.form_version.schema["properties"]["description"]["title"] == "事情经过（新）"
        assert app2.test_client().get(f"/api/v1/forms/{FORM}").get_json()["version"] == 2


def test_key_order_and_whitespace_do_not_make_a_version(make_app, tmp_path):
    forms = copy_definitions(tmp_path)
    app = make_app(FORMS_DIR=str(forms))
    path = forms / f"{FORM}.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(dict(reversed(list(document.items()))), ensure_ascii=False, indent=4),
                    encoding="utf-8")
    app2 = make_app(fresh=False, FORMS_DIR=str(forms))
    with app2.app_context():
        assert sync(state().catalog) == 0
        assert db.session.scalar(select(FormVersion.number).where(FormVersion.form_id == FORM)) == 1


def test_versions_are_never_rewritten(ctx):
    version = db.session.scalar(select(FormVersion).where(FormVersion.form_id == FORM))
    before = dict(version.schema)
    sync(state().catalog)
    db.session.expire_all()
    assert db.session.get(FormVersion, version.id).schema == before


def test_admin_typed_script_is_escaped_on_resident_pages(make_app, tmp_path):
    forms = copy_definitions(tmp_path)

    def inject(d):
        d["properties"]["description"]["title"] = "<script>alert(1)</script>"
        d["properties"]["description"]["x-ui"] = {**d["properties"]["description"].get("x-ui", {}),
                                                  "help": '<img src=x onerror="alert(2)">'}
    rewrite(forms / f"{FORM}.json", inject)
    app = make_app(FORMS_DIR=str(forms))
    code = next(i["code"] for i in app.extensions["qunti"].catalog.menu if i["form"] == FORM)
    html = app.test_client().get(f"/services/{code}").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html
